using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A UDP client of an exposed kv VM made of a plain socket: one request at a time, sent again with the same
/// id after <see cref="Retry"/> to the next node's address (it does not know which node died), answers
/// accepted from any node and repeats of an answer dropped by id.
/// </summary>
public sealed class PlainUdpClient(IReadOnlyList<IPEndPoint> nodes, int firstNode, Action<string> log) : IDisposable
{
    public static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(300);

    // Bound to one address: the source address, and so the peer id, stays the same whichever node is asked.
    private readonly Socket _socket = Bound();
    private int _node = firstNode;

    public int Resends { get; private set; }

    public int Repeats { get; private set; }

    public double LongestWaitMs { get; private set; }

    private static Socket Bound()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return socket;
    }

    /// <summary>Sends raw bytes to the current node and returns the first datagram back (any text), or null after <paramref name="wait"/>.</summary>
    public async Task<string?> Raw(byte[] data, TimeSpan wait, CancellationToken cancel)
    {
        await _socket.SendToAsync(data, nodes[_node], cancel);
        return await Receive(wait, cancel);
    }

    /// <summary>Sends "ID REST" until an answer starting with "ID " arrives; returns the rest of that answer.</summary>
    public async Task<string> Ask(string id, string rest, TimeSpan giveUp, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        byte[] request = Encoding.ASCII.GetBytes($"{id} {rest}");
        while (true)
        {
            if (clock.Elapsed > giveUp) throw new TimeoutException($"UDP: no answer to {id} within {giveUp.TotalSeconds} s ({Resends} resends so far)");
            await _socket.SendToAsync(request, nodes[_node], cancel);
            var sent = Stopwatch.StartNew();
            while (sent.Elapsed < Retry)
            {
                string? answer = await Receive(Retry - sent.Elapsed, cancel);
                if (answer is null) break;
                if (answer.StartsWith(id + " ", StringComparison.Ordinal))
                {
                    LongestWaitMs = Math.Max(LongestWaitMs, clock.Elapsed.TotalMilliseconds);
                    return answer[(id.Length + 1)..];
                }
                Repeats++; // the answer to an earlier copy of an earlier request
            }
            Resends++;
            _node = (_node + 1) % nodes.Count;
            if (Resends % 10 == 1) log($"UDP: {id} unanswered for {clock.Elapsed.TotalMilliseconds:F0} ms; sending it to {nodes[_node]}");
        }
    }

    private async Task<string?> Receive(TimeSpan wait, CancellationToken cancel)
    {
        if (wait <= TimeSpan.Zero) return null;
        var buffer = new byte[70_000];
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(wait);
        try
        {
            var got = await _socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
            return Encoding.ASCII.GetString(buffer, 0, got.ReceivedBytes);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return null;
        }
        catch (SocketException)
        {
            return null; // an ICMP "port unreachable" from a dead node: go on as for silence
        }
    }

    public void Dispose() => _socket.Dispose();
}

/// <summary>
/// A TCP client of an exposed kv VM made of a plain socket: one connection, a line per request, never resent.
/// A repeat of an earlier request's answer (the front door sends a new primary what was in flight, and the
/// guest answers a repeated id from its table) is counted and skipped, as a client matching answers by id does.
/// </summary>
public sealed class PlainTcpClient : IDisposable
{
    private readonly TcpClient _client = new() { NoDelay = true };
    private readonly Dictionary<string, string> _answered = [];

    public int Repeats { get; private set; }
    private StreamReader _reader = null!;
    private Stream _stream = null!;

    public double LongestWaitMs { get; private set; }

    public async Task Connect(IPEndPoint node, CancellationToken cancel)
    {
        await _client.ConnectAsync(node, cancel);
        _stream = _client.GetStream();
        _reader = new StreamReader(_stream, Encoding.ASCII);
    }

    public async Task WriteRaw(byte[] data, CancellationToken cancel) => await _stream.WriteAsync(data, cancel);

    /// <summary>The next line from the node; throws when the connection ends or nothing comes within <paramref name="wait"/>.</summary>
    public async Task<string> ReadLine(TimeSpan wait, CancellationToken cancel)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(wait);
        string? line;
        try
        {
            line = await _reader.ReadLineAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new TimeoutException($"TCP: no line within {wait.TotalSeconds} s");
        }
        return line ?? throw new IOException("TCP: the node closed the connection");
    }

    /// <summary>Writes "ID REST\n" once and reads lines until the one for ID; returns the rest of it.</summary>
    public async Task<string> Ask(string id, string rest, TimeSpan giveUp, CancellationToken cancel)
    {
        var clock = Stopwatch.StartNew();
        await WriteRaw(Encoding.ASCII.GetBytes($"{id} {rest}\n"), cancel);
        while (true)
        {
            string line = await ReadLine(giveUp - clock.Elapsed, cancel);
            string answerId = line.Split(' ')[0];
            if (_answered.TryGetValue(answerId, out string? earlier))
            {
                if (line != $"{answerId} {earlier}") throw new InvalidDataException($"TCP: {answerId} answered again differently: '{line}', first '{answerId} {earlier}'");
                Repeats++;
                continue;
            }
            if (!line.StartsWith(id + " ", StringComparison.Ordinal)) throw new InvalidDataException($"TCP: for {id}, an answer '{line}'");
            _answered[id] = line[(id.Length + 1)..];
            LongestWaitMs = Math.Max(LongestWaitMs, clock.Elapsed.TotalMilliseconds);
            return _answered[id];
        }
    }

    public void Dispose() => _client.Dispose();
}
