using System.CommandLine;
using Lockstep.Actors.Security;

namespace Lockstep.Host.Cli;

/// <summary>--tls-cert and --tls-ca, the same on `node` and on every `vm` command.</summary>
public static class TlsOptions
{
    public static Option<string?> Certificate(bool recursive = false) => new("--tls-cert")
    {
        Description = $"FILE.pfx: talk to the cluster over mutual TLS with this certificate (password from ${ClusterTls.PasswordVariable})",
        Recursive = recursive,
    };

    public static Option<string?> Authority(bool recursive = false) => new("--tls-ca")
    {
        Description = $"the cluster CA certificate peers must be issued by (default: {ClusterTls.CaFileName} beside --tls-cert)",
        Recursive = recursive,
    };

    /// <summary>Null without --tls-cert (plain text); a usage error for --tls-ca alone or a certificate that cannot be used.</summary>
    public static ClusterTls? Load(string? certificate, string? authority)
    {
        if (certificate is null)
        {
            if (authority is not null) throw new UsageException("--tls-ca needs --tls-cert");
            return null;
        }
        try
        {
            return ClusterTls.Load(certificate, authority);
        }
        catch (TlsConfigurationException e)
        {
            throw new UsageException(e.Message);
        }
    }
}
