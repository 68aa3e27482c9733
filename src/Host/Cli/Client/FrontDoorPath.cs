using System.Net;
using System.Threading.Channels;
using Lockstep.Harness;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// `vm send` through the front door: each request is a UDP datagram to a node's address at the VM's exposed
/// port, and a request unanswered for the retry time goes again to the next node's address. The nodes give
/// this client's address one peer id on every node, so the guest's de-duplication by request id holds
/// across nodes. A datagram answer starting with <see cref="DoorRefusal"/> is the front door's own refusal
/// (a datagram over the node's limit), which the guest never sends since its answers start with the request id.
/// </summary>
public sealed class FrontDoorPath(IReadOnlyList<IPEndPoint> doors, int first) : IPacketPath
{
    /// <summary>How a front door's refusal of a datagram begins (docs/architecture.md, front door limits).</summary>
    public const string DoorRefusal = "ERROR lockstep: ";

    private readonly DoorSocket _socket = new(doors, first);
    private readonly CancellationTokenSource _stop = new();
    private Task _pump = Task.CompletedTask;

    public int MaxPacket => DoorSocket.MaxDatagram;

    public string Route =>
        $"through the front door (port {doors[0].Port} of {string.Join(", ", doors.Select(d => d.Address))})";

    /// <summary>How many times a resend turned to the next node.</summary>
    public int Turns => _socket.Turns;

    public void Start(ChannelWriter<object> events) => _pump = Task.Run(() => PumpAsync(events));

    public void Send(IReadOnlyList<(KvRequest Request, KvTag Tag)> copies, bool resend)
    {
        // One turn for all copies due together: the node that left them unanswered is the one to leave.
        if (resend && copies.Count > 0) _socket.Turn();
        foreach (var (request, _) in copies) _socket.Send(request.Data);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _pump.Wait(TimeSpan.FromSeconds(1));
        _stop.Dispose();
    }

    private async Task PumpAsync(ChannelWriter<object> events)
    {
        while (await _socket.ReceiveAsync(_stop.Token) is var (text, from))
        {
            events.TryWrite(text.StartsWith(DoorRefusal, StringComparison.Ordinal)
                ? new PathRefusal($"the front door at {from} refused a request: {text}", Final: true)
                : new PathAnswer(null, text));
        }
    }
}
