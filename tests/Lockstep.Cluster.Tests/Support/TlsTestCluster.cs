using System.Diagnostics;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A <see cref="TestCluster"/> whose nodes run with --tls-cert (certificates made by `lockstep cert create` in
/// the test's folder), and whose `vm` commands carry the client certificate unless the test takes it away.
/// </summary>
public sealed class TlsTestCluster(ProgramFixture program, ITestOutputHelper output, string testName, int basePort)
    : TestCluster(program, output, testName, basePort)
{
    public const string PasswordVariable = "LOCKSTEP_TLS_PASSWORD";

    /// <summary>The cluster's certificates; made by <see cref="CreateCertificates"/>.</summary>
    public string Certificates => Path.Combine(Folder, "certs");

    public string NodeCertificate => Path.Combine(Certificates, "node.pfx");

    public string ClientCertificate => Path.Combine(Certificates, "client.pfx");

    /// <summary>What `vm` commands get as --tls-cert and LOCKSTEP_TLS_PASSWORD; null: no certificate at all.</summary>
    public (string Pfx, string Password)? ClientTls { get; set; }

    public string Password => ReadPassword(Certificates);

    /// <summary>Runs `lockstep cert create` into <paramref name="directory"/> and fails the test if it does not succeed.</summary>
    public async Task CreateCertificates(string directory)
    {
        var created = await Cli(["cert", "create", directory]);
        Assert.True(created.ExitCode == 0, $"cert create {directory} failed: {created}");
    }

    /// <summary>Makes the cluster's certificates and gives the CLI the client certificate.</summary>
    public async Task CreateCertificates()
    {
        await CreateCertificates(Certificates);
        ClientTls = (ClientCertificate, Password);
    }

    public static string ReadPassword(string directory) => File.ReadAllText(Path.Combine(directory, "password")).Trim();

    /// <summary>A start description for a `lockstep node` outside the cluster's own nodes (for the ones that must be refused).</summary>
    public ProcessStartInfo NodeStartInfo(IEnumerable<string> args, string? password)
    {
        var info = Program.Program.StartInfo(Folder, args);
        info.Environment.Remove(PasswordVariable);
        if (password is not null) info.Environment[PasswordVariable] = password;
        return info;
    }

    protected override ProcessStartInfo WrapNode(int index, ProcessStartInfo info)
    {
        info.ArgumentList.Add("--tls-cert");
        info.ArgumentList.Add(NodeCertificate);
        info.Environment[PasswordVariable] = Password;
        return info;
    }

    protected override ProcessStartInfo ClientStartInfo(IEnumerable<string> args)
    {
        var list = args.ToList();
        var info = base.ClientStartInfo(list);
        info.Environment.Remove(PasswordVariable);
        if (ClientTls is { } tls && list is ["vm", ..] && !list.Contains("--tls-cert"))
        {
            info.ArgumentList.Add("--tls-cert");
            info.ArgumentList.Add(tls.Pfx);
            info.Environment[PasswordVariable] = tls.Password;
        }
        return info;
    }
}
