using System.Security.Cryptography.X509Certificates;
using Lockstep.Harness;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// Issue 15, part 1: `cert create`, and a cluster on mutual TLS that lets in only nodes and clients with a
/// certificate from its own CA. Checked with real processes, because the refusals happen in the handshake.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class TlsTests(ProgramFixture program, ITestOutputHelper output)
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes are what the test checks
    public async Task CertCreateMakesAChainThatValidatesAgainstItsCa()
    {
        await using var cluster = new TlsTestCluster(program, output, nameof(CertCreateMakesAChainThatValidatesAgainstItsCa), 5490);
        await cluster.CreateCertificates();
        string dir = cluster.Certificates;
        Assert.Equal(["ca.crt", "client.pfx", "node.pfx", "password"], Directory.GetFiles(dir).Select(Path.GetFileName).Order());
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(Path.Combine(dir, "password")));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(cluster.NodeCertificate));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(cluster.ClientCertificate));
        Assert.True(cluster.Password.Length >= 16, "the password is too short to be a secret");

        using var ca = X509CertificateLoader.LoadCertificateFromFile(Path.Combine(dir, "ca.crt"));
        Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority, "ca.crt is not a CA certificate");
        Assert.False(ca.HasPrivateKey);
        foreach (string pfx in new[] { cluster.NodeCertificate, cluster.ClientCertificate })
        {
            using var leaf = X509CertificateLoader.LoadPkcs12FromFile(pfx, cluster.Password);
            Assert.True(leaf.HasPrivateKey, $"{pfx} has no private key");
            Assert.True(ChainsTo(leaf, ca), $"{pfx} does not chain to ca.crt");
            Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => X509CertificateLoader.LoadPkcs12FromFile(pfx, "wrong"));
        }

        // A second CA is a different trust root: its certificates must not validate against the first.
        string other = Path.Combine(cluster.Folder, "other");
        await cluster.CreateCertificates(other);
        Assert.NotEqual(cluster.Password, TlsTestCluster.ReadPassword(other));
        using (var foreign = X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(other, "node.pfx"), TlsTestCluster.ReadPassword(other)))
            Assert.False(ChainsTo(foreign, ca), "a certificate of another `cert create` validates against this CA");

        // Existing certificates are never overwritten: the same folder again, or any non-empty one, is refused.
        byte[] before = await File.ReadAllBytesAsync(cluster.NodeCertificate);
        var again = await cluster.Cli(["cert", "create", dir]);
        AssertUsageError(again, dir);
        Assert.Equal(before, await File.ReadAllBytesAsync(cluster.NodeCertificate));
        string busy = Path.Combine(cluster.Folder, "busy");
        Directory.CreateDirectory(busy);
        await File.WriteAllTextAsync(Path.Combine(busy, "notes.txt"), "mine\n");
        AssertUsageError(await cluster.Cli(["cert", "create", busy]), busy);
        Assert.Equal(["notes.txt"], Directory.GetFiles(busy).Select(Path.GetFileName));

        // The options' own mistakes, before anything listens or connects (no client certificate added here).
        cluster.ClientTls = null;
        AssertUsageError(await cluster.Cli(["vm", "list", "--tls-ca", Path.Combine(dir, "ca.crt")]), "--tls-cert");
        string missing = Path.Combine(cluster.Folder, "missing.pfx");
        var node = await RunNode(cluster, 5491, missing, cluster.Password);
        AssertNodeRefused(node, ExitCodes.Usage, missing);
        cluster.Passed();
    }

    [Fact]
    public async Task OnlyNodesWithACertificateOfTheClusterCaJoin()
    {
        await using var cluster = new TlsTestCluster(program, output, nameof(OnlyNodesWithACertificateOfTheClusterCaJoin), 5400);
        await cluster.CreateCertificates();
        string other = Path.Combine(cluster.Folder, "other");
        await cluster.CreateCertificates(other);
        // Two nodes with the cluster's certificate form the cluster: the positive control.
        await cluster.StartNodes(count: 2);
        var seed = cluster.Nodes[0];
        string seedEndpoint = seed.Endpoint;

        // Bad certificate set-ups are refused before the node starts, with the usage status.
        var noPassword = await RunNode(cluster, 5402, cluster.NodeCertificate, password: null);
        AssertNodeRefused(noPassword, ExitCodes.Usage, "LOCKSTEP_TLS_PASSWORD");
        var wrongPassword = await RunNode(cluster, 5402, cluster.NodeCertificate, password: "not-the-password");
        AssertNodeRefused(wrongPassword, ExitCodes.Usage, "password");
        // Its own certificate, but told to trust a different CA: refused at start too.
        var mismatched = await RunNode(cluster, 5402, cluster.NodeCertificate, cluster.Password, ca: Path.Combine(other, "ca.crt"));
        AssertNodeRefused(mismatched, ExitCodes.Usage, "not issued by the cluster CA");

        // A node with a certificate of another CA gets through its own start, but the handshake with the seed
        // fails (each side rejects the other's certificate) and it ends instead of running on alone.
        var foreign = await RunNode(cluster, 5403, Path.Combine(other, "node.pfx"), TlsTestCluster.ReadPassword(other), seeds: seedEndpoint);
        AssertNodeRefused(foreign, ExitCodes.Unavailable, "TLS handshake");

        // A node without TLS keeps knocking in plain text; it must never get in.
        TestCluster.EnsurePortFree(5404);
        using var plain = ChildProcess.Start(cluster.NodeStartInfo(
            ["node", "--port", "5404", "--seeds", seedEndpoint, "--journal", $"sqlite:{Path.Combine(cluster.Folder, "plain.db")}"], password: null),
            "plain node 5404", Path.Combine(cluster.Folder, "node-plain-5404.log"));
        // Two failed join rounds (Akka retries every few seconds) prove it tried and was turned away.
        bool tried = await plain.WaitForOutput(p => CountOf(p.AllOutput, "Couldn't join seed nodes") >= 2, TimeSpan.FromSeconds(60), cluster.Cancel);
        Assert.True(tried, $"the plain node never reported a failed join:\n{TestCluster.Tail(plain.AllOutput, 30)}");

        Assert.False(seed.HasExited, $"the seed ended after refusing the intruders:\n{TestCluster.Tail(seed.Output, 40)}");
        Assert.False(cluster.Nodes[1].HasExited, "the second cluster node ended");
        Assert.True(NodeCluster.IsUp(seed.Output, cluster.Nodes[1]), "the node with the cluster's certificate is not Up");
        foreach (string intruder in new[] { "127.0.0.1:5403", "127.0.0.1:5404" })
            Assert.False(NodeCluster.IsUp(seed.Output, intruder), $"{intruder} was let into the TLS cluster");
        Assert.DoesNotContain("Welcome from", plain.AllOutput);
        Assert.DoesNotContain("Welcome from", foreign.Output);
        cluster.Passed();
    }

    /// <summary>
    /// CVE-2025-61778: in Akka.NET before 1.5.52 a TLS server did not require the client's certificate. A peer
    /// that itself checks nothing (accepts any server certificate) shows whether the node checks on its own:
    /// without a certificate, or with one of another CA, the node closes the connection; with the cluster's
    /// it keeps it open, waiting for Akka's association (the control that makes the refusals mean something).
    /// </summary>
    [Fact]
    public async Task TheNodeItselfRequiresAClientCertificateOfTheClusterCa()
    {
        await using var cluster = new TlsTestCluster(program, output, nameof(TheNodeItselfRequiresAClientCertificateOfTheClusterCa), 5420);
        await cluster.CreateCertificates();
        string other = Path.Combine(cluster.Folder, "other");
        await cluster.CreateCertificates(other);
        await cluster.StartNodes(count: 1);
        int port = cluster.Nodes[0].Port;

        Assert.False(await StaysOpen(port, null), "the node kept a TLS connection that presented no client certificate");
        using (var foreign = X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(other, "client.pfx"), TlsTestCluster.ReadPassword(other)))
            Assert.False(await StaysOpen(port, foreign), "the node kept a TLS connection with a client certificate of another CA");
        using (var trusted = X509CertificateLoader.LoadPkcs12FromFile(cluster.ClientCertificate, cluster.Password))
            Assert.True(await StaysOpen(port, trusted), "the node closed a TLS connection with the cluster's own client certificate");
        Assert.False(await PlainStaysOpen(port), "the node kept a plain-text connection");
        Assert.False(cluster.Nodes[0].HasExited, "the node ended after refusing connections");
        cluster.Passed();
    }

    /// <summary>Whether the node keeps a TLS connection with this client certificate open for a while (true) or ends it.</summary>
    private static async Task<bool> StaysOpen(int port, X509Certificate2? certificate)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
        await using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        var options = new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ClientCertificates = certificate is null ? null : [certificate],
            LocalCertificateSelectionCallback = certificate is null ? null : (_, _, _, _, _) => certificate,
        };
        try
        {
            await tls.AuthenticateAsClientAsync(options);
            return await StillOpenAfter(tls);
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            return false;
        }
    }

    /// <summary>Whether the node keeps a connection on which plain bytes arrive instead of a TLS handshake.</summary>
    private static async Task<bool> PlainStaysOpen(int port)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var stream = tcp.GetStream();
        try
        {
            await stream.WriteAsync(new byte[64].Select((_, i) => (byte)('a' + i % 26)).ToArray());
            return await StillOpenAfter(stream);
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The node sends nothing before the client speaks: a read that ends (0 bytes or an error) within the wait means it hung up.</summary>
    private static async Task<bool> StillOpenAfter(Stream stream)
    {
        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            int read = await stream.ReadAsync(new byte[256], wait.Token);
            return read > 0;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
        {
            return false;
        }
    }

    [Fact]
    public async Task OnlyAClientWithACertificateOfTheClusterCaCreatesOrStopsVms()
    {
        await using var cluster = new TlsTestCluster(program, output, nameof(OnlyAClientWithACertificateOfTheClusterCaCreatesOrStopsVms), 5410);
        await cluster.CreateCertificates();
        string other = Path.Combine(cluster.Folder, "other");
        await cluster.CreateCertificates(other);
        var trusted = cluster.ClientTls;
        await cluster.StartNodes(count: 2);
        string[] create = ["vm", "create", "kv1", "--image", program.KvImage, "--contact", cluster.Contact];

        cluster.ClientTls = null;
        AssertRefusedClient(await cluster.Cli(create), ExitCodes.Unavailable, "no cluster node answered");
        cluster.ClientTls = (Path.Combine(other, "client.pfx"), TlsTestCluster.ReadPassword(other));
        AssertRefusedClient(await cluster.Cli(create), ExitCodes.Unavailable, "no cluster node answered");
        // The right certificate with no or the wrong password: refused before any connection.
        cluster.ClientTls = (cluster.ClientCertificate, "wrong");
        AssertRefusedClient(await cluster.Cli(create), ExitCodes.Usage, "LOCKSTEP_TLS_PASSWORD");
        var noPassword = await cluster.Cli([.. create, "--tls-cert", cluster.ClientCertificate]);
        AssertRefusedClient(noPassword, ExitCodes.Usage, "LOCKSTEP_TLS_PASSWORD");

        cluster.ClientTls = trusted;
        var list = await cluster.Cli(["vm", "list", "--contact", cluster.Contact]);
        Assert.True(list.ExitCode == 0, $"vm list with the client certificate failed: {list}");
        Assert.DoesNotContain(list.Stdout, l => l.Length > 0);
        Assert.Equal(["no VMs"], list.Stderr);
        await cluster.CreateKv("kv1");

        cluster.ClientTls = null;
        AssertRefusedClient(await cluster.Cli(["vm", "stop", "kv1", "--contact", cluster.Contact]), ExitCodes.Unavailable, "no cluster node answered");
        cluster.ClientTls = (Path.Combine(other, "client.pfx"), TlsTestCluster.ReadPassword(other));
        AssertRefusedClient(await cluster.Cli(["vm", "stop", "kv1", "--contact", cluster.Contact]), ExitCodes.Unavailable, "no cluster node answered");

        cluster.ClientTls = trusted;
        var still = await cluster.Status("kv1");
        Assert.True(still is { State: "Protected" }, $"the refused stop changed the VM: {still?.Json ?? "(no status)"}");
        var stop = await cluster.Cli(["vm", "stop", "kv1", "--contact", cluster.Contact]);
        Assert.True(stop.ExitCode == 0, $"vm stop with the client certificate failed: {stop}");
        var after = await cluster.Cli(["vm", "list", "--contact", cluster.Contact]);
        Assert.True(after.ExitCode == 0, $"vm list after the stop failed: {after}");
        Assert.DoesNotContain(after.Stdout, l => l.Length > 0);
        Assert.Equal(["no VMs"], after.Stderr);
        Assert.All(cluster.Nodes, n => Assert.False(n.HasExited, $"{n} ended while refusing clients"));
        cluster.Passed();
    }

    /// <summary>The failover promise holds with TLS on: kill -9 of the primary's node mid-stream, every INCR answered exactly once.</summary>
    [Fact]
    public async Task AProtectedVmOverTlsSurvivesKillOfItsPrimarysNode()
    {
        const int requests = 200;
        await using var cluster = new TlsTestCluster(program, output, nameof(AProtectedVmOverTlsSurvivesKillOfItsPrimarysNode), 5430);
        await cluster.CreateCertificates();
        await cluster.StartNodes();
        var before = await cluster.CreateKv("kv1");
        var primary = cluster.NodeAt(before.Primary);
        // The lockstep channel itself is encrypted: the primary's node opened its link to the secondary's over TLS.
        Assert.True(primary.Output.Contains(LinkOverTls), $"the primary's node opened no lockstep link over TLS:\n{TestCluster.Tail(primary.Output, 30)}");

        await IncrStream.Start(cluster, "kv1", 9, "a", "c", requests)
            .RunThroughFault(() => cluster.KillNode(primary), "the primary was killed", answersBefore: 30, TimeSpan.FromSeconds(90));
        var get = await cluster.Cli(["vm", "send", "kv1", "--peer", "9", "--retry-ms", "300", "--timeout", "30", "--contact", cluster.Contact],
            stdin: "g1 GET c\n");
        Assert.True(get.ExitCode == 0, $"GET failed: {get}");
        Assert.Equal([$"g1 VALUE {requests}"], get.Stdout);

        var survivors = cluster.Contacts.ToList();
        var after = await cluster.WaitForStatus("kv1",
            s => s.State == "Protected" && s.Generation > before.Generation && survivors.Any(n => n.Endpoint == s.Primary)
                && survivors.Any(n => n.Endpoint == s.Secondary) && s.Primary != s.Secondary,
            TimeSpan.FromSeconds(20), "Protected again on the surviving nodes", survivors);
        Assert.NotEqual(primary.Endpoint, after.Primary);
        var newPrimary = cluster.NodeAt(after.Primary);
        Assert.True(newPrimary.Output.Contains(LinkOverTls), $"the new primary re-protected without a TLS link:\n{TestCluster.Tail(newPrimary.Output, 30)}");
        cluster.Passed();
    }

    // NodeLinks' log line for a link it connected with TLS on (src/Replication/Links/NodeLinks.cs).
    private const string LinkOverTls = "up over TLS";

    private static bool ChainsTo(X509Certificate2 leaf, X509Certificate2 ca)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf) && chain.ChainElements[^1].Certificate.Thumbprint == ca.Thumbprint;
    }

    /// <summary>Runs `lockstep node` with the given certificate to its end (it is expected to end by itself).</summary>
    private static async Task<NodeRun> RunNode(TlsTestCluster cluster, int port, string pfx, string? password, string? ca = null, string? seeds = null)
    {
        TestCluster.EnsurePortFree(port);
        var args = new List<string> { "node", "--port", port.ToString(), "--journal", $"sqlite:{Path.Combine(cluster.Folder, $"node-{port}.db")}", "--tls-cert", pfx };
        if (ca is not null) args.AddRange(["--tls-ca", ca]);
        if (seeds is not null) args.AddRange(["--seeds", seeds]);
        using var node = ChildProcess.Start(cluster.NodeStartInfo(args, password), $"node {port}", Path.Combine(cluster.Folder, $"node-{port}-{Guid.NewGuid():N}.log"));
        bool ended = await node.WaitForExit(TimeSpan.FromSeconds(60), cluster.Cancel);
        Assert.True(ended, $"`lockstep node --port {port} --tls-cert {pfx}` was expected to end, and ran on:\n{TestCluster.Tail(node.AllOutput, 30)}");
        return new NodeRun(node.ExitCode, node.StderrLines.LastOrDefault() ?? "", node.AllOutput);
    }

    private sealed record NodeRun(int ExitCode, string LastError, string Output);

    private static void AssertNodeRefused(NodeRun run, int exitCode, string reason)
    {
        Assert.True(run.ExitCode == exitCode, $"expected exit {exitCode}, got {run.ExitCode}:\n{TestCluster.Tail(run.Output, 30)}");
        Assert.StartsWith("lockstep: ", run.LastError);
        Assert.Contains(reason, run.LastError);
    }

    private static void AssertRefusedClient(CliResult result, int exitCode, string reason)
    {
        Assert.True(result.ExitCode == exitCode, $"expected exit {exitCode}: {result}");
        Assert.Single(result.Stderr);
        Assert.StartsWith("lockstep: ", result.Stderr[0]);
        Assert.Contains(reason, result.Stderr[0]);
    }

    private static void AssertUsageError(CliResult result, string path)
    {
        Assert.True(result.ExitCode == ExitCodes.Usage, $"expected a usage error: {result}");
        Assert.Contains(path, Assert.Single(result.Stderr));
    }

    private static int CountOf(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    /// <summary>The CLI's exit statuses (src/Host/Cli/ExitCodes.cs), which this project does not reference.</summary>
    private static class ExitCodes
    {
        public const int Usage = 64;
        public const int Unavailable = 69;
    }
}
