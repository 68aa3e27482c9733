using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// One plain UDP client (its own socket, so its own guest peer) for each of many VMs, VM i exposed on port
/// firstPort + i of every node. A round sends one request to every VM at once and resends each unanswered one
/// to the next node every <see cref="Resend"/>, until every VM has answered; kv answers a repeated id from memory,
/// so a resend never counts twice.
/// </summary>
public sealed class UdpFleet : IDisposable
{
    public static readonly TimeSpan Resend = TimeSpan.FromMilliseconds(100);

    private readonly Socket[] _sockets;
    private readonly int _firstPort;

    public UdpFleet(int count, int firstPort)
    {
        _firstPort = firstPort;
        _sockets = Enumerable.Range(0, count).Select(_ =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return socket;
        }).ToArray();
    }

    /// <summary>
    /// Sends "<paramref name="id"/> <paramref name="command"/>" to every VM through <paramref name="nodes"/> and returns each
    /// VM's answer (without the id) and how long it took.
    /// </summary>
    /// <exception cref="TimeoutException">Some VM had not answered after <paramref name="giveUp"/>; the message names how many and which first.</exception>
    public (string[] Answers, TimeSpan[] Waits) AskAll(string id, string command, IReadOnlyList<IPAddress> nodes, TimeSpan giveUp, CancellationToken cancel)
    {
        int count = _sockets.Length;
        var answers = new string?[count];
        var waits = new TimeSpan[count];
        var lastSent = new TimeSpan[count];
        var nodeOf = new int[count];
        byte[] request = Encoding.ASCII.GetBytes($"{id} {command}");
        var clock = Stopwatch.StartNew();
        var buffer = new byte[70_000];
        for (int i = 0; i < count; i++)
        {
            nodeOf[i] = i % nodes.Count;
            Send(i, request, nodes[nodeOf[i]]);
            lastSent[i] = clock.Elapsed;
        }
        int open = count;
        while (open > 0)
        {
            cancel.ThrowIfCancellationRequested();
            if (clock.Elapsed > giveUp)
            {
                var missing = Enumerable.Range(0, count).Where(i => answers[i] is null).ToList();
                throw new TimeoutException($"{missing.Count} of {count} VMs did not answer {id} within {giveUp.TotalSeconds:0} s (first: vm{missing[0]} on port {_firstPort + missing[0]})");
            }
            var readable = Enumerable.Range(0, count).Where(i => answers[i] is null).Select(i => _sockets[i]).ToList();
            Socket.Select(readable, null, null, 10_000);
            foreach (var socket in readable)
            {
                int i = Array.IndexOf(_sockets, socket);
                while (socket.Available > 0)
                {
                    int length;
                    try
                    {
                        length = socket.Receive(buffer);
                    }
                    catch (SocketException)
                    {
                        break; // an ICMP "port unreachable" from a dead node's address: the resend goes elsewhere
                    }
                    string text = Encoding.ASCII.GetString(buffer, 0, length).TrimEnd('\n', '\r');
                    if (answers[i] is null && text.StartsWith(id + " ", StringComparison.Ordinal))
                    {
                        answers[i] = text[(id.Length + 1)..];
                        waits[i] = clock.Elapsed;
                        open--;
                    }
                }
            }
            var now = clock.Elapsed;
            for (int i = 0; i < count; i++)
            {
                if (answers[i] is not null || now - lastSent[i] < Resend) continue;
                nodeOf[i] = (nodeOf[i] + 1) % nodes.Count;
                Send(i, request, nodes[nodeOf[i]]);
                lastSent[i] = now;
            }
        }
        return (answers.Select(a => a!).ToArray(), waits);
    }

    private void Send(int vm, byte[] request, IPAddress node)
    {
        try
        {
            _sockets[vm].SendTo(request, new IPEndPoint(node, _firstPort + vm));
        }
        catch (SocketException)
        {
            // The resend goes to the next node.
        }
    }

    public void Dispose()
    {
        foreach (var socket in _sockets) socket.Dispose();
    }
}
