using System.CommandLine;

namespace Lockstep.Host.Cli.Certificates;

/// <summary>`lockstep cert ...`: certificates for a TLS cluster.</summary>
public static class CertCommand
{
    public static Command Create()
    {
        var directory = new Argument<string>("DIR") { Description = "new or empty folder for ca.crt, node.pfx, client.pfx and password" };
        var create = new Command("create", "Make a cluster CA and the node and client certificates of a test cluster") { directory };
        create.SetAction(parse => LocalCommands.Guarded(() =>
        {
            string dir = parse.GetValue(directory)!;
            TestClusterCertificates.Create(dir);
            Console.WriteLine($"wrote {Path.Combine(dir, TestClusterCertificates.CaFile)}, {TestClusterCertificates.NodeFile}, {TestClusterCertificates.ClientFile} and {TestClusterCertificates.PasswordFile} (mode 0600)");
            Console.WriteLine($"use: export LOCKSTEP_TLS_PASSWORD=\"$(cat {Path.Combine(dir, TestClusterCertificates.PasswordFile)})\"; lockstep node --tls-cert {Path.Combine(dir, TestClusterCertificates.NodeFile)} ...");
            return ExitCodes.Success;
        }));
        return new Command("cert", "Certificates for a TLS cluster") { create };
    }
}
