using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Lockstep.Actors.Protocol;
using Lockstep.Actors.FrontDoor;
using Lockstep.Harness;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// `vm send` through ClusterClient, as peer <c>peer</c>: each packet goes to a node's gateway, which passes it to
/// the primary; the answers and the gateway's refusals come back to an inbox actor of this client.
/// </summary>
public sealed class ClusterClientPath(ControlClient client, string vm, uint peer) : IPacketPath
{
    private readonly Channel<object> _inbox = Channel.CreateUnbounded<object>();
    private IActorRef _inboxActor = ActorRefs.Nobody;
    private Task _pump = Task.CompletedTask;
    private string? _lastRefusal;

    public int MaxPacket => FrontDoorSettings.GuestMaxPacket;

    public string Route => $"through ClusterClient ({client.Contacts})";

    public void Start(ChannelWriter<object> events)
    {
        _inboxActor = client.CreateInbox(_inbox.Writer);
        _pump = Task.Run(() => PumpAsync(events));
    }

    public void Send(IReadOnlyList<(KvRequest Request, KvTag Tag)> copies, bool resend)
    {
        foreach (var (request, tag) in copies)
            client.Tell(new SendPacket(vm, peer, request.Data, tag.ToDeliveryTag()), _inboxActor);
    }

    public void Dispose()
    {
        _inbox.Writer.TryComplete();
        _pump.Wait(TimeSpan.FromSeconds(1));
    }

    private async Task PumpAsync(ChannelWriter<object> events)
    {
        await foreach (var message in _inbox.Reader.ReadAllAsync())
        {
            switch (message)
            {
                case VmPacket packet when packet.Name == vm && packet.Peer == peer:
                    events.TryWrite(new PathAnswer(packet.Seq, Encoding.UTF8.GetString(packet.Data).TrimEnd('\n').TrimEnd('\r')));
                    break;
                case ControlOk:
                    _lastRefusal = null;
                    break;
                case ControlError { Message: var refusal, Kind: var kind }:
                    bool final = kind is ControlErrorKind.UnknownVm or ControlErrorKind.Stopped;
                    // While a VM fails over the same refusal comes once per retry; once is enough to show.
                    if (final || refusal != _lastRefusal) events.TryWrite(new PathRefusal(refusal, final));
                    _lastRefusal = refusal;
                    break;
            }
        }
    }
}
