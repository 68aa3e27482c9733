using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Lockstep.Actors.Protocol;
using Lockstep.Harness;
using Lockstep.Host.Cli.Client;

namespace Lockstep.Host.Demo;

/// <summary>
/// `demo --via cluster`: the clients' packets go through ClusterClient, as they did before the front door, for a
/// comparison on the same machine. Every request names one inbox as its sender; the VM's answers are handed to
/// the client of the peer they are for. Delivery tags let the primary drop late copies of answered requests.
/// </summary>
public sealed class DemoClusterTransport : IDemoTransport
{
    private readonly ControlClient _client;
    private readonly string _vm;
    private readonly DemoEvents _events;
    private readonly Channel<object> _inbox = Channel.CreateUnbounded<object>();
    private readonly ConcurrentDictionary<uint, Channel<(ulong?, string)>> _peers = new();
    private readonly IActorRef _inboxActor;
    private readonly Task _dispatcher;
    private string? _lastRefusal;

    public DemoClusterTransport(ControlClient client, string vm, DemoEvents events)
    {
        _client = client;
        _vm = vm;
        _events = events;
        _inboxActor = client.CreateInbox(_inbox.Writer);
        _dispatcher = Task.Run(DispatchAsync);
    }

    /// <summary>ClusterClient finds a live gateway on its own; a resend sooner than this only doubles the traffic.</summary>
    public TimeSpan Retry => TimeSpan.FromMilliseconds(250);

    public bool NeedsPacing => false;

    public string Describe() => $"ClusterClient (--via cluster) to {_client.Contacts}, each client a peer number; an unanswered request resent after {Retry.TotalMilliseconds:0} ms";

    public ChannelReader<(ulong? Seq, string Text)> Register(uint client) =>
        _peers.GetOrAdd(client, _ => Channel.CreateUnbounded<(ulong?, string)>(new UnboundedChannelOptions { SingleReader = true })).Reader;

    public void Send(uint client, KvRequest request, KvTag tag, bool resend) =>
        _client.Tell(new SendPacket(_vm, client, request.Data, tag.ToDeliveryTag()), _inboxActor);

    public void Dispose()
    {
        _inbox.Writer.TryComplete();
        _dispatcher.Wait(TimeSpan.FromSeconds(1));
    }

    private async Task DispatchAsync()
    {
        await foreach (var message in _inbox.Reader.ReadAllAsync())
        {
            switch (message)
            {
                case VmPacket packet when packet.Name == _vm:
                    if (_peers.TryGetValue(packet.Peer, out var answers))
                        answers.Writer.TryWrite((packet.Seq, Encoding.UTF8.GetString(packet.Data).TrimEnd('\n', '\r')));
                    break;
                case ControlOk:
                    _lastRefusal = null;
                    break;
                case ControlError { Message: var refusal }:
                    // During a failover every retry is refused the same way; the log needs it once.
                    if (refusal != _lastRefusal) _events.Add($"gateway refused a request: {refusal}");
                    _lastRefusal = refusal;
                    break;
            }
        }
    }
}
