using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Lockstep.Replication.Links;

/// <summary>
/// The TLS of the lockstep links: this node's certificate (with its private key) and the one cluster CA
/// it trusts. Both ends present a certificate (mutual authentication) and both check the other's against
/// that CA alone: the system's store plays no part, so a certificate from any public CA is refused.
/// </summary>
public sealed class LinkTls(X509Certificate2 certificate, X509Certificate2 authority)
{
    // Nodes share one certificate and what makes a member is the CA that issued it, so the name is not checked.
    private const string TargetHost = "lockstep-node";

    public X509Certificate2 Certificate { get; } = certificate;

    public X509Certificate2 Authority { get; } = authority;

    /// <summary>True when <paramref name="peer"/> chains to the cluster CA, and to nothing else.</summary>
    public bool Trusts(X509Certificate? peer)
    {
        if (peer is null) return false;
        using var copy = peer is X509Certificate2 ? null : X509CertificateLoader.LoadCertificate(peer.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        // A test cluster's CA publishes no revocation list; the CA pin is the control here.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (!chain.Build(copy ?? (X509Certificate2)peer)) return false;
        var root = chain.ChainElements[^1].Certificate;
        return root.RawDataMemory.Span.SequenceEqual(Authority.RawDataMemory.Span);
    }

    /// <summary>The connecting side's handshake, on the caller's thread.</summary>
    /// <exception cref="IOException">The handshake failed: the peer is no node of this cluster, speaks no TLS, or hung up.</exception>
    internal SslStream AuthenticateAsClient(Stream transport, string peer) => Authenticate(transport, peer, (tls, validate) =>
        tls.AuthenticateAsClient(new SslClientAuthenticationOptions
        {
            TargetHost = TargetHost,
            ClientCertificates = [Certificate],
            LocalCertificateSelectionCallback = (_, _, _, _, _) => Certificate,
            RemoteCertificateValidationCallback = validate,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        }));

    /// <summary>The accepting side's handshake, on the link's reader thread: a client certificate of the cluster CA is required.</summary>
    /// <exception cref="IOException">The handshake failed (no certificate, another CA's, plain text, or the peer hung up).</exception>
    internal SslStream AuthenticateAsServer(Stream transport, string peer) => Authenticate(transport, peer, (tls, validate) =>
        tls.AuthenticateAsServer(new SslServerAuthenticationOptions
        {
            ServerCertificate = Certificate,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = validate,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        }));

    private SslStream Authenticate(Stream transport, string peer, Action<SslStream, RemoteCertificateValidationCallback> handshake)
    {
        var tls = new SslStream(transport, leaveInnerStreamOpen: false);
        string? refusal = null;
        try
        {
            handshake(tls, (_, certificate, _, _) =>
            {
                if (Trusts(certificate)) return true;
                refusal = certificate is null ? "it presented no certificate" : $"its certificate {certificate.Subject} was not issued by the cluster CA";
                return false;
            });
            return tls;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            tls.Dispose();
            throw new IOException($"TLS handshake with {peer} failed: {refusal ?? e.Message}", e);
        }
        catch
        {
            tls.Dispose();
            throw;
        }
    }
}
