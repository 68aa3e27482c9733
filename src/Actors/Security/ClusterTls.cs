using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using Lockstep.Replication.Links;

namespace Lockstep.Actors.Security;

/// <summary>
/// This host's TLS identity (its certificate with private key) and the one cluster CA it trusts. Every
/// Akka.Remote connection, in both directions, must present a certificate issued by that CA.
/// </summary>
public sealed class ClusterTls
{
    /// <summary>The certificate's password comes from here only: a flag would show in `ps` and shell history.</summary>
    public const string PasswordVariable = "LOCKSTEP_TLS_PASSWORD";

    /// <summary>The CA file looked for beside the certificate when none is named.</summary>
    public const string CaFileName = "ca.crt";

    private ClusterTls(X509Certificate2 certificate, X509Certificate2 authority)
    {
        Certificate = certificate;
        Authority = authority;
        Links = new LinkTls(certificate, authority);
    }

    public X509Certificate2 Certificate { get; }

    public X509Certificate2 Authority { get; }

    /// <summary>Loads FILE.pfx with the password from <see cref="PasswordVariable"/>, and the CA (default: ca.crt beside it).</summary>
    /// <exception cref="TlsConfigurationException">Anything missing, unreadable or not matching, in words.</exception>
    public static ClusterTls Load(string pfxPath, string? caPath)
    {
        if (Environment.GetEnvironmentVariable(PasswordVariable) is not { Length: > 0 } password)
            throw new TlsConfigurationException($"--tls-cert {pfxPath}: set {PasswordVariable} to the certificate's password");
        if (!File.Exists(pfxPath)) throw new TlsConfigurationException($"--tls-cert {pfxPath}: no such file");
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(pfxPath, password);
        }
        catch (CryptographicException e)
        {
            throw new TlsConfigurationException($"--tls-cert {pfxPath}: cannot open it with the password in {PasswordVariable} ({e.Message})");
        }
        if (!certificate.HasPrivateKey) throw new TlsConfigurationException($"--tls-cert {pfxPath}: holds no private key");

        string authorityPath = caPath ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(pfxPath))!, CaFileName);
        if (!File.Exists(authorityPath))
            throw new TlsConfigurationException($"cluster CA {authorityPath} not found (put {CaFileName} beside the certificate or name it with --tls-ca)");
        X509Certificate2 authority;
        try
        {
            authority = X509CertificateLoader.LoadCertificateFromFile(authorityPath);
        }
        catch (CryptographicException e)
        {
            throw new TlsConfigurationException($"cluster CA {authorityPath}: not a certificate ({e.Message})");
        }
        var tls = new ClusterTls(certificate, authority);
        if (!tls.Trusts(certificate))
            throw new TlsConfigurationException($"--tls-cert {pfxPath} was not issued by the cluster CA {authorityPath}");
        return tls;
    }

    /// <summary>True when <paramref name="peer"/> chains to the cluster CA, and to nothing else (the system's store plays no part).</summary>
    public bool Trusts(X509Certificate2? peer) => Links.Trusts(peer);

    /// <summary>The same identity and pin for the lockstep links, which live outside Akka.</summary>
    public LinkTls Links { get; }

    /// <summary>Akka.Remote's address scheme: a TLS transport has its own, so seeds and contacts must name it.</summary>
    public static string Protocol(ClusterTls? tls) => tls is null ? "akka.tcp" : "akka.ssl.tcp";

    /// <summary>The HOCON that turns TLS on for the DotNetty transport (the certificate itself goes in <see cref="Setup"/>).</summary>
    public static Config TransportConfig() => ConfigurationFactory.ParseString("akka.remote.dot-netty.tcp.enable-ssl = true");

    /// <summary>
    /// The transport's TLS: our certificate, mutual authentication required, and a validator that replaces the
    /// system-store chain check with the pin on the cluster CA. Host names are not checked: all nodes share
    /// one certificate, and what identifies a member of the cluster is the CA that issued it.
    /// </summary>
    public Setup Setup() =>
        new DotNettySslSetup(Certificate, suppressValidation: false, requireMutualAuthentication: true,
            validateCertificateHostname: false, customValidator: Validate);

    private bool Validate(X509Certificate2? certificate, X509Chain? chain, string remotePeer, SslPolicyErrors errors, ILoggingAdapter? log)
    {
        if (Trusts(certificate)) return true;
        log?.Warning("TLS: refused {0}: {1}", remotePeer,
            certificate is null ? "it presented no certificate" : $"its certificate {certificate.Subject} was not issued by the cluster CA");
        return false;
    }
}
