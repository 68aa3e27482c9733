using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Lockstep.Engine.Recording;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The lockstep links over mutual TLS pinned to the cluster CA: frames travel both ways, and a peer that
/// speaks plain text, presents no certificate, or one of another CA is refused in both directions (and
/// logged), even when it knows the VM's attach token. The raw clients here check nothing themselves, so
/// any refusal they meet is the node's own (the CVE-2025-61778 lesson: mutual authentication is tested,
/// not assumed). Nodes on 127.0.0.2 (primaries) and 127.0.0.3 (secondaries).
/// </summary>
public sealed class LinkTlsTests : IDisposable
{
    private readonly TestAuthority _cluster = new("Lockstep test cluster CA");
    private readonly TestAuthority _other = new("Some other CA");
    private readonly List<NodeLinks> _nodes = [];
    private readonly ConcurrentQueue<string> _log = new();

    public void Dispose()
    {
        foreach (var node in _nodes) node.Dispose();
        _cluster.Dispose();
        _other.Dispose();
    }

    [Fact]
    public void Channels_between_two_nodes_of_the_cluster_ca_carry_frames_both_ways_over_tls()
    {
        var primaries = Node("127.0.0.2", _cluster.Node("a"));
        var secondaries = Node("127.0.0.3", _cluster.Node("b"));
        var pairs = Enumerable.Range(0, 3).Select(i => LinkEnd.Open(primaries, secondaries, $"vm{i}")).ToList();
        var ram = new byte[3 * NodeLink.PieceSize + 17];
        new Random(5).NextBytes(ram);
        pairs[0].Primary.Channel!.Send(new SnapshotPagesFrame(ram));
        for (int i = 0; i < pairs.Count; i++) pairs[i].Primary.Channel!.Send(SegmentFrame.Of((ulong)i, new LogSegment(0, (ulong)(1000 + i), [])));
        for (int i = 0; i < pairs.Count; i++) pairs[i].Secondary.Channel!.Send(new AckFrame(i, (ulong)(2000 + i), 0));

        Assert.Equal(ram, Assert.IsType<SnapshotPagesFrame>(pairs[0].Secondary.Next()).Pages);
        for (int i = 0; i < pairs.Count; i++)
        {
            Assert.Equal((ulong)(1000 + i), Assert.IsType<SegmentFrame>(pairs[i].Secondary.Next()).Segment.Horizon);
            Assert.Equal((ulong)(2000 + i), Assert.IsType<AckFrame>(pairs[i].Primary.Next()).Horizon);
        }
        Assert.Equal(1, secondaries.AcceptedConnections);
        Assert.Contains(_log, l => l.Contains("over TLS"));
        // Heartbeats keep the idle TLS link up past its timeout (they too go through the TLS stream).
        Thread.Sleep(LockstepSettings.Default.HeartbeatTimeout * 2);
        Assert.All(pairs, p => Assert.True(p.Primary.Channel!.IsOpen && p.Secondary.Channel!.IsOpen));
    }

    [Fact]
    public void A_plain_text_peer_is_refused_even_with_the_vms_attach_token()
    {
        var secondaries = Node("127.0.0.3", _cluster.Node("b"));
        var (token, opened) = Expecting(secondaries, "vm");
        using var tcp = new TcpClient();
        tcp.Connect(IPAddress.Parse(secondaries.Host), secondaries.Port);
        var stream = tcp.GetStream();
        stream.Write(FrameCodec.Encode(1, new HelloFrame("vm", token.Bytes)));

        Assert.True(Closes(stream), "the TLS node kept a plain-text connection");
        Assert.False(opened.IsSet, "a plain-text peer opened a VM's channel");
        AssertRefusalLogged();
        AssertStillAdmitsTheCluster(secondaries, "vm");
    }

    [Fact]
    public void A_tls_peer_without_a_certificate_or_with_one_of_another_ca_is_refused_and_one_of_the_cluster_admitted()
    {
        var secondaries = Node("127.0.0.3", _cluster.Node("b"));
        using var foreign = _other.Issue("intruder");
        using var member = _cluster.Issue("member");

        var (token, opened) = Expecting(secondaries, "none");
        Assert.False(RawTlsOpen(secondaries, null, "none", token, opened), "a TLS peer without a certificate opened a channel");
        (token, opened) = Expecting(secondaries, "foreign");
        Assert.False(RawTlsOpen(secondaries, foreign, "foreign", token, opened), "a TLS peer with another CA's certificate opened a channel");
        AssertRefusalLogged();
        (token, opened) = Expecting(secondaries, "member");
        Assert.True(RawTlsOpen(secondaries, member, "member", token, opened), "a TLS peer with the cluster's certificate was not admitted");
    }

    [Fact]
    public void A_primary_connects_to_no_secondary_node_of_another_ca_nor_to_a_plain_one()
    {
        var primaries = Node("127.0.0.2", _cluster.Node("a"));
        var foreign = Node("127.0.0.3", _other.Node("x"));
        var plain = Node("127.0.0.4", null);
        foreign.Expect("vm", AttachToken.New(), _ => { }, _ => { }, () => { }, (_, _) => { });

        var toForeign = Assert.Throws<IOException>(() => primaries.Open(foreign.Host, foreign.Port, "vm", AttachToken.New(), _ => { }, () => { }, TimeSpan.FromSeconds(5)));
        Assert.Contains("not issued by the cluster CA", toForeign.Message);
        Assert.Throws<IOException>(() => primaries.Open(plain.Host, plain.Port, "vm", AttachToken.New(), _ => { }, () => { }, TimeSpan.FromSeconds(5)));
        Assert.Empty(primaries.Links());
        // The other side refused too: the foreign node does not trust the cluster's certificate either.
        Assert.True(SpinWait.SpinUntil(() => _log.Any(l => l.Contains("refused") && l.Contains("not issued by the cluster CA")), TimeSpan.FromSeconds(5)),
            $"the foreign node logged no refusal: {string.Join(" | ", _log)}");
    }

    private NodeLinks Node(string host, LinkTls? tls)
    {
        var node = new NodeLinks(host, 0, LockstepSettings.Default with { Tls = tls });
        node.Logged += _log.Enqueue;
        _nodes.Add(node);
        return node;
    }

    private static (AttachToken Token, ManualResetEventSlim Opened) Expecting(NodeLinks node, string vm)
    {
        var token = AttachToken.New();
        var opened = new ManualResetEventSlim(false);
        node.Expect(vm, token, _ => opened.Set(), _ => { }, () => { }, (_, _) => { });
        return (token, opened);
    }

    /// <summary>A raw TLS client that accepts any server: opens <paramref name="vm"/>'s channel with the right token. True if admitted.</summary>
    private static bool RawTlsOpen(NodeLinks node, X509Certificate2? certificate, string vm, AttachToken token, ManualResetEventSlim opened)
    {
        using var tcp = new TcpClient();
        tcp.Connect(IPAddress.Parse(node.Host), node.Port);
        using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        try
        {
            tls.AuthenticateAsClient(new SslClientAuthenticationOptions
            {
                TargetHost = "anything",
                ClientCertificates = certificate is null ? null : [certificate],
                LocalCertificateSelectionCallback = certificate is null ? null : (_, _, _, _, _) => certificate,
            });
            tls.Write(FrameCodec.Encode(1, new HelloFrame(vm, token.Bytes)));
            tls.Flush();
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            return opened.Wait(TimeSpan.FromMilliseconds(500));
        }
        if (opened.Wait(TimeSpan.FromSeconds(3))) return true;
        Assert.True(Closes(tls), "the node neither admitted nor closed the connection");
        return false;
    }

    /// <summary>The node hangs up within a few seconds (a read ends or fails); heartbeats would mean it kept the link.</summary>
    private static bool Closes(Stream stream)
    {
        stream.ReadTimeout = 10_000; // beyond the handshake timeout (5 s)
        try
        {
            return stream.Read(new byte[256]) == 0;
        }
        catch (Exception e) when (e is IOException or AuthenticationException)
        {
            return e.InnerException is not SocketException { SocketErrorCode: SocketError.TimedOut };
        }
    }

    private void AssertRefusalLogged() =>
        Assert.True(SpinWait.SpinUntil(() => _log.Any(l => l.Contains("refused") && l.Contains("TLS handshake")), TimeSpan.FromSeconds(5)),
            $"no refusal in the node's log: {string.Join(" | ", _log)}");

    private void AssertStillAdmitsTheCluster(NodeLinks secondaries, string vm)
    {
        var primaries = Node("127.0.0.2", _cluster.Node("a"));
        var (primary, secondary) = LinkEnd.Open(primaries, secondaries, vm + "-again");
        primary.Channel!.Send(SegmentFrame.Of(0, new LogSegment(0, 7, [])));
        Assert.Equal(7UL, Assert.IsType<SegmentFrame>(secondary.Next()).Segment.Horizon);
    }
}
