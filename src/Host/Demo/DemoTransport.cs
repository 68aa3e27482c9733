using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Lockstep.Actors.Protocol;
using Lockstep.Harness;
using Lockstep.Host.Cli.Client;

namespace Lockstep.Host.Demo;

/// <summary>
/// Packets to and from one VM for many logical clients over a single ControlClient: every request names
/// the same inbox as its sender, and the VM's answers are handed to the client of the peer they are for.
/// </summary>
public sealed class DemoTransport : IDisposable
{
    private readonly ControlClient _client;
    private readonly string _vm;
    private readonly DemoEvents _events;
    private readonly Channel<object> _inbox = Channel.CreateUnbounded<object>();
    private readonly ConcurrentDictionary<uint, Channel<(ulong Seq, string Text)>> _peers = new();
    private readonly IActorRef _inboxActor;
    private readonly Task _dispatcher;
    private string? _lastRefusal;

    public DemoTransport(ControlClient client, string vm, DemoEvents events)
    {
        _client = client;
        _vm = vm;
        _events = events;
        _inboxActor = client.CreateInbox(_inbox.Writer);
        _dispatcher = Task.Run(DispatchAsync);
    }

    /// <summary>The outputs for <paramref name="peer"/> (sequence number and text), in arrival order; one reader per peer.</summary>
    public ChannelReader<(ulong Seq, string Text)> Register(uint peer) =>
        _peers.GetOrAdd(peer, _ => Channel.CreateUnbounded<(ulong, string)>(new UnboundedChannelOptions { SingleReader = true })).Reader;

    public void Send(uint peer, byte[] data, KvTag tag) =>
        _client.Tell(new SendPacket(_vm, peer, data, tag.ToDeliveryTag()), _inboxActor);

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
