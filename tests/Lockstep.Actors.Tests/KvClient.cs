using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Tests;

/// <summary>
/// A client outside the cluster (a remote-only ActorSystem) that talks to the gateways of the
/// live nodes, retrying a request until its answer comes: the shared <see cref="KvSession"/> over
/// a TestProbe instead of `vm send`'s ClusterClient.
/// </summary>
public sealed class KvClient : IDisposable
{
    private readonly InProcessCluster _cluster;
    private readonly ActorSystem _system;
    private readonly TestProbe _probe;
    private readonly string _vm;
    private readonly uint _peer;
    private readonly KvSession _session = new(window: 1, retryMs: 400, timeoutMs: long.MaxValue);
    private int _next;

    public KvClient(TestKitBase kit, InProcessCluster cluster, int port, string vm, uint peer)
    {
        _cluster = cluster;
        _vm = vm;
        _peer = peer;
        _system = ActorSystem.Create("client", ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.actor.provider = remote
            akka.actor.serializers.hyperion = "Akka.Serialization.HyperionSerializer, Akka.Serialization.Hyperion"
            akka.actor.serialization-bindings { "System.Object" = hyperion }
            akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = {{port}} }
            """));
        _probe = kit.CreateTestProbe(_system);
    }

    /// <summary>
    /// Sends until the answer to this request's id arrives, resending as <see cref="KvSession"/> says (the client
    /// all the demo's and `vm send`'s requests go through); repeats are answered from the guest's own table.
    /// </summary>
    /// <param name="tag">A tag to send every copy with instead of the session's own (tests that forge late copies).</param>
    public string Request(string idAndCommand, TimeSpan? timeout = null, DeliveryTag? tag = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var deadline = timeout ?? TimeSpan.FromSeconds(40);
        var (request, first) = _session.TryStart(idAndCommand, clock.ElapsedMilliseconds)
            ?? throw new InvalidOperationException($"a request with the id of '{idAndCommand}' is still in flight");
        Send(idAndCommand, tag ?? AsDeliveryTag(first));
        while (clock.Elapsed < deadline)
        {
            foreach (var (_, again) in _session.DueForResend(clock.ElapsedMilliseconds)) Send(idAndCommand, tag ?? AsDeliveryTag(again));
            if (_probe.ReceiveOne(TimeSpan.FromMilliseconds(50)) is not VmPacket packet) continue;
            string text = Encoding.UTF8.GetString(packet.Data);
            if (_session.Receive(packet.Seq, text) is { Kind: KvReceiptKind.Answer } receipt && receipt.Request == request) return text;
        }
        _session.Abandon(request);
        throw new TimeoutException($"no answer to '{idAndCommand}'");
    }

    private static DeliveryTag AsDeliveryTag(KvTag tag) => new(tag.Session, tag.Ordinal, tag.AnsweredBelow);

    /// <summary>Sends once and does not wait for an answer, like a copy that was held up on the way.</summary>
    public void Send(string idAndCommand, DeliveryTag? tag = null)
    {
        var gateways = _cluster.Alive
            .Select(n => n.Gateway.Path.ToStringWithAddress(Akka.Cluster.Cluster.Get(n.System).SelfAddress)).ToList();
        var gateway = _system.ActorSelection(gateways[_next++ % gateways.Count]);
        gateway.Tell(new SendPacket(_vm, _peer, Encoding.UTF8.GetBytes(idAndCommand), tag), _probe.Ref);
    }

    public void Dispose() => _system.Terminate().Wait(TimeSpan.FromSeconds(5));
}
