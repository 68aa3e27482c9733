using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Tests;

/// <summary>
/// A client outside the cluster (a remote-only ActorSystem) that talks to the gateways of the
/// live nodes, retrying a request until its answer comes, as `lockstep vm send` does.
/// </summary>
public sealed class KvClient : IDisposable
{
    private readonly InProcessCluster _cluster;
    private readonly ActorSystem _system;
    private readonly TestProbe _probe;
    private readonly string _vm;
    private readonly uint _peer;
    private readonly HashSet<ulong> _seen = [];
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

    /// <summary>Sends until the answer to this request's id arrives (repeats are answered from the guest's own table).</summary>
    public string Request(string idAndCommand, TimeSpan? timeout = null, DeliveryTag? tag = null)
    {
        string id = idAndCommand.Split(' ')[0];
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(40));
        while (DateTime.UtcNow < deadline)
        {
            Send(idAndCommand, tag);
            var until = DateTime.UtcNow + TimeSpan.FromMilliseconds(400);
            while (DateTime.UtcNow < until)
            {
                var message = _probe.ReceiveOne(TimeSpan.FromMilliseconds(50));
                if (message is VmPacket packet && _seen.Add(packet.Seq))
                {
                    string text = Encoding.UTF8.GetString(packet.Data);
                    if (text.Split(' ')[0] == id) return text;
                }
            }
        }
        throw new TimeoutException($"no answer to '{idAndCommand}'");
    }

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
