using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Lockstep.Host.Cli.Certificates;

/// <summary>
/// `lockstep cert create DIR`: a fresh cluster CA and, issued by it, one certificate every node uses and one
/// the CLI uses. The CA's private key is not kept: a new cluster member means a new `cert create`.
/// </summary>
public static class TestClusterCertificates
{
    public const string CaFile = "ca.crt";
    public const string NodeFile = "node.pfx";
    public const string ClientFile = "client.pfx";
    public const string PasswordFile = "password";

    private static readonly TimeSpan Lifetime = TimeSpan.FromDays(3650);

    // Only the owner may read private keys and the password.
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public static void Create(string directory)
    {
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
            throw new UsageException($"cert create: {directory} is not empty; give a new or empty folder (existing certificates are never overwritten)");
        if (File.Exists(directory)) throw new UsageException($"cert create: {directory} is a file");
        Directory.CreateDirectory(directory);

        string password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(24));
        var notBefore = DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = notBefore + Lifetime;
        using var caKey = RSA.Create(3072);
        using var ca = CreateAuthority(caKey, notBefore, notAfter);
        Write(Path.Combine(directory, CaFile), ca.ExportCertificatePem() + "\n", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        WriteBytes(Path.Combine(directory, NodeFile), Issue(ca, caKey, "lockstep-node", notBefore, notAfter, password));
        WriteBytes(Path.Combine(directory, ClientFile), Issue(ca, caKey, "lockstep-client", notBefore, notAfter, password));
        Write(Path.Combine(directory, PasswordFile), password + "\n", OwnerOnly);
    }

    private static X509Certificate2 CreateAuthority(RSA key, DateTimeOffset notBefore, DateTimeOffset notAfter)
    {
        var request = new CertificateRequest($"CN=Lockstep cluster CA {Guid.NewGuid():N}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(notBefore, notAfter);
    }

    /// <summary>A leaf for both TLS roles: Akka.Remote is peer to peer, every side also accepts connections.</summary>
    private static byte[] Issue(X509Certificate2 ca, RSA caKey, string name, DateTimeOffset notBefore, DateTimeOffset notAfter, string password)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // server and client authentication
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f; // a positive serial number
        using var issued = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForRSA(caKey, RSASignaturePadding.Pkcs1), notBefore, notAfter, serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return withKey.Export(X509ContentType.Pfx, password);
    }

    private static void Write(string path, string text, UnixFileMode mode) =>
        WriteBytes(path, System.Text.Encoding.UTF8.GetBytes(text), mode);

    private static void WriteBytes(string path, byte[] bytes, UnixFileMode mode = OwnerOnly)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = mode;
        using var stream = new FileStream(path, options);
        stream.Write(bytes);
    }
}
