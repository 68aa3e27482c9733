using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Lockstep.Harness;
using Lockstep.Host.Cli.Client;

namespace Lockstep.Host.Demo;

/// <summary>
/// The demo's clients reach the VM as ordinary UDP clients of the front door: each logical client has a socket
/// of its own (so the nodes give it a guest peer id of its own, the same on every node), starts at a node of its
/// own and, when a request goes unanswered, sends it again to the next node's address. No ClusterClient on this
/// path: it stays the demo's control plane (create, status, replica check).
/// </summary>
public sealed class DemoDoorTransport : IDemoTransport
{
    private readonly IReadOnlyList<IPEndPoint> _doors;
    private readonly DemoEvents _events;
    private readonly ConcurrentDictionary<uint, (DoorSocket Socket, Channel<(ulong?, string)> Answers, Task Pump)> _clients = new();
    private readonly CancellationTokenSource _stop = new();
    private int _refusals;

    /// <param name="doors">Each node's address at the VM's exposed port.</param>
    public DemoDoorTransport(IReadOnlyList<IPEndPoint> doors, DemoEvents events)
    {
        _doors = doors;
        _events = events;
    }

    public IReadOnlyList<IPEndPoint> Doors => _doors;

    /// <summary>What the issue's target client does: 50 ms without an answer, then the next node.</summary>
    public TimeSpan Retry => TimeSpan.FromMilliseconds(50);

    public bool NeedsPacing => true;

    public string Describe() =>
        $"UDP through the front door, port {_doors[0].Port} of {string.Join(", ", _doors.Select(d => d.Address))}: each client one socket (one guest peer on every node), " +
        $"an unanswered request resent after {Retry.TotalMilliseconds:0} ms to the next node's address";

    /// <summary>Resends that turned to another node, over all clients.</summary>
    public int Turns => _clients.Values.Sum(c => c.Socket.Turns);

    /// <summary>The answers for <paramref name="client"/>, with no sequence number (the front door drops repeated outputs itself).</summary>
    public ChannelReader<(ulong? Seq, string Text)> Register(uint client) => _clients.GetOrAdd(client, Open).Answers.Reader;

    /// <summary>Sends a request for <paramref name="client"/>; <paramref name="resend"/>: it went unanswered, so to the next node. Front-door packets carry no tag.</summary>
    public void Send(uint client, KvRequest request, KvTag tag, bool resend)
    {
        var socket = _clients.GetOrAdd(client, Open).Socket;
        if (resend) socket.SendToNext(request.Data);
        else socket.Send(request.Data);
    }

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var (socket, _, pump) in _clients.Values)
        {
            socket.Dispose();
            pump.Wait(TimeSpan.FromSeconds(1));
        }
        _stop.Dispose();
    }

    private (DoorSocket, Channel<(ulong?, string)>, Task) Open(uint client)
    {
        // Clients start spread over the nodes, so some of them start at the node that is about to die.
        var socket = new DoorSocket(_doors, (int)(client % (uint)_doors.Count));
        var answers = Channel.CreateUnbounded<(ulong?, string)>(new UnboundedChannelOptions { SingleReader = true });
        return (socket, answers, Task.Run(() => PumpAsync(socket, answers.Writer)));
    }

    private async Task PumpAsync(DoorSocket socket, ChannelWriter<(ulong?, string)> answers)
    {
        while (await socket.ReceiveAsync(_stop.Token) is var (text, from))
        {
            // The guest's answers start with the request id; this is the front door's own refusal.
            if (text.StartsWith(FrontDoorPath.DoorRefusal, StringComparison.Ordinal))
            {
                if (Interlocked.Increment(ref _refusals) <= 3) _events.Add($"the front door at {from} refused a request: {text}");
                continue;
            }
            answers.TryWrite((null, text));
        }
    }
}
