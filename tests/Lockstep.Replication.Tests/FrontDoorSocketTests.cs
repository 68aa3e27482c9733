using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Lockstep.Replication.FrontDoor;

namespace Lockstep.Replication.Tests;

/// <summary>The front door's sockets against plain clients: what they report, what they refuse, and a port already taken.</summary>
public sealed class FrontDoorSocketTests
{
    private sealed class Facts : IDoorFacts
    {
        public readonly BlockingCollection<string> Seen = [];
        public void Datagram(IPEndPoint client, byte[] data) => Seen.Add($"datagram {Encoding.ASCII.GetString(data)}");
        public void DatagramTooLarge(IPEndPoint client, int length) => Seen.Add($"datagram too large {length}");
        public void Connected(long connection, IPEndPoint client) => Seen.Add($"connected {connection}");
        public void ConnectionRefused(IPEndPoint client, int limit) => Seen.Add($"refused {limit}");
        public void Line(long connection, byte[] data) => Seen.Add($"line {connection} {Encoding.ASCII.GetString(data)}");
        public void LineTooLong(long connection) => Seen.Add($"line too long {connection}");
        public void ReadEnded(long connection) => Seen.Add($"read ended {connection}");
        public void Disconnected(long connection, string why) => Seen.Add($"disconnected {connection}");
        public void DoorFailed(string what, string why) => Seen.Add($"failed {what}");

        public string Next() =>
            Seen.TryTake(out var fact, TimeSpan.FromSeconds(5)) ? fact : throw new TimeoutException("no fact within 5 s");
    }

    [Fact]
    public void Udp_reports_datagrams_refuses_oversized_ones_whole_and_answers_the_sender()
    {
        var facts = new Facts();
        int port = FreePort();
        using var door = new UdpDoor(IPAddress.Loopback, port, 1000, facts);
        door.Start();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var to = new IPEndPoint(IPAddress.Loopback, port);
        client.SendTo(new byte[1001], to);
        client.SendTo(new byte[60_000], to);
        client.SendTo(Encoding.ASCII.GetBytes("hello"), to);
        Assert.Equal("datagram too large 1001", facts.Next());
        Assert.Equal("datagram too large 60000", facts.Next());
        Assert.Equal("datagram hello", facts.Next());
        Assert.Null(door.Send((IPEndPoint)client.LocalEndPoint!, Encoding.ASCII.GetBytes("answer")));
        var buffer = new byte[100];
        client.ReceiveTimeout = 5000;
        int got = client.Receive(buffer);
        Assert.Equal("answer", Encoding.ASCII.GetString(buffer, 0, got));
    }

    /// <summary>What a stalled node's socket held: the door says how long each datagram waited before it was read.</summary>
    private sealed class StampedFacts : IDoorFacts
    {
        public readonly BlockingCollection<(IPEndPoint Client, string Data, TimeSpan Waited)> Seen = [];
        public void Datagram(IPEndPoint client, byte[] data) => throw new InvalidOperationException("the door did not give the wait");
        public void Datagram(IPEndPoint client, byte[] data, TimeSpan waited) => Seen.Add((client, Encoding.ASCII.GetString(data), waited));
        public void DatagramTooLarge(IPEndPoint client, int length) { }
        public void Connected(long connection, IPEndPoint client) { }
        public void Line(long connection, byte[] data) { }
        public void LineTooLong(long connection) { }
        public void ReadEnded(long connection) { }
        public void Disconnected(long connection, string why) { }
        public void DoorFailed(string what, string why) => Seen.Add((new IPEndPoint(IPAddress.None, 0), $"failed {what}: {why}", TimeSpan.Zero));
    }

    /// <summary>
    /// Linux turns arrival stamps on for the whole machine lazily (deferred work) when the first socket asks for them; a
    /// datagram that arrives before that is stamped when it is read, as if it had not waited. On a fresh machine that made
    /// this test fail (400 ms reported as 2 ms), so it first waits, with a door of its own kept open, until a held datagram
    /// is reported as held: from then on arrivals are stamped.
    /// </summary>
    private static UdpDoor KernelStampsArrivals()
    {
        for (int attempt = 0; attempt < 20; attempt++)
        {
            var facts = new StampedFacts();
            int port = FreePort();
            var probe = new UdpDoor(IPAddress.Loopback, port, 1000, facts);
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            client.SendTo(Encoding.ASCII.GetBytes("probe"), new IPEndPoint(IPAddress.Loopback, port));
            Thread.Sleep(100);
            probe.Start();
            if (facts.Seen.TryTake(out var seen, TimeSpan.FromSeconds(5)) && seen.Waited >= TimeSpan.FromMilliseconds(80)) return probe;
            probe.Dispose();
        }
        throw new InvalidOperationException("the kernel never stamped a datagram's arrival (SO_TIMESTAMPNS) in 20 tries");
    }

    [Fact]
    public void Udp_says_how_long_a_datagram_waited_in_the_socket_and_who_sent_it()
    {
        using var stampsOn = KernelStampsArrivals();
        var facts = new StampedFacts();
        int port = FreePort();
        using var door = new UdpDoor(IPAddress.Loopback, port, 1000, facts);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var to = new IPEndPoint(IPAddress.Loopback, port);
        // Sent before the door reads (as to a node that was stopped): it waits in the socket.
        client.SendTo(Encoding.ASCII.GetBytes("held"), to);
        Thread.Sleep(400);
        door.Start();
        Assert.True(facts.Seen.TryTake(out var held, TimeSpan.FromSeconds(5)), "the held datagram was not reported");
        Assert.Equal("held", held.Data);
        Assert.Equal(client.LocalEndPoint, held.Client);
        Assert.True(held.Waited >= TimeSpan.FromMilliseconds(350), $"it waited 400 ms, the door says {held.Waited.TotalMilliseconds:F0} ms");
        client.SendTo(Encoding.ASCII.GetBytes("fresh"), to);
        Assert.True(facts.Seen.TryTake(out var fresh, TimeSpan.FromSeconds(5)), "the fresh datagram was not reported");
        Assert.Equal("fresh", fresh.Data);
        Assert.True(fresh.Waited < held.Waited - TimeSpan.FromMilliseconds(300), $"a fresh datagram waited {fresh.Waited.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public void A_closed_udp_door_lets_go_of_its_port_at_once()
    {
        var facts = new StampedFacts();
        int port = FreePort();
        var door = new UdpDoor(IPAddress.Loopback, port, 1000, facts);
        door.Start();
        Thread.Sleep(100); // its thread waits for a datagram now, holding the socket
        var clock = System.Diagnostics.Stopwatch.StartNew();
        door.Dispose();
        // The port is free once the waiting thread has let go of the socket: it is woken, not left to its next timeout.
        UdpDoor? again = null;
        while (again is null)
        {
            try
            {
                again = new UdpDoor(IPAddress.Loopback, port, 1000, facts);
            }
            catch (SocketException) when (clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                Thread.Sleep(10);
            }
        }
        again.Dispose();
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(900), $"the port was free again only after {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Empty(facts.Seen);
    }

    [Fact]
    public void Tcp_reports_lines_refuses_an_oversized_one_and_goes_on_with_the_next()
    {
        var facts = new Facts();
        int port = FreePort();
        using var door = new TcpDoor(IPAddress.Loopback, port, 100, facts);
        door.Start();
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        var stream = client.GetStream();
        stream.Write(Encoding.ASCII.GetBytes(new string('x', 500) + "\r\nnext\r\n"));
        Assert.Equal("connected 1", facts.Next());
        Assert.Equal("line too long 1", facts.Next());
        Assert.Equal("line 1 next", facts.Next());
        Assert.Null(door.Write(1, Encoding.ASCII.GetBytes("answer")));
        using var reader = new StreamReader(stream);
        Assert.Equal("answer", reader.ReadLine());
        // Half closed, as `nc` does at the end of its input: answers still reach the client.
        client.Client.Shutdown(SocketShutdown.Send);
        Assert.Equal("read ended 1", facts.Next());
        Assert.Null(door.Write(1, Encoding.ASCII.GetBytes("late")));
        Assert.Equal("late", reader.ReadLine());
        door.Close(1);
        Assert.Null(reader.ReadLine());
        Assert.NotNull(door.Write(1, [1]));
    }

    [Fact]
    public void Tcp_refuses_a_connection_over_its_limit_with_an_error_line_and_takes_one_again_once_one_closed()
    {
        var facts = new Facts();
        int port = FreePort();
        using var door = new TcpDoor(IPAddress.Loopback, port, 100, facts, maxConnections: 2);
        door.Start();
        using var first = new TcpClient();
        first.Connect(IPAddress.Loopback, port);
        Assert.Equal("connected 1", facts.Next());
        using var second = new TcpClient();
        second.Connect(IPAddress.Loopback, port);
        Assert.Equal("connected 2", facts.Next());

        using var third = new TcpClient();
        third.Connect(IPAddress.Loopback, port);
        third.GetStream().Write(Encoding.ASCII.GetBytes("INCR x\n")); // sent before it reads its refusal: still told, not reset
        using (var reader = new StreamReader(third.GetStream()))
        {
            third.ReceiveTimeout = 5000;
            string? refusal = reader.ReadLine();
            Assert.NotNull(refusal);
            Assert.StartsWith("ERROR lockstep: too many connections", refusal);
            Assert.Null(reader.ReadLine()); // and closed
        }
        Assert.Equal("refused 2", facts.Next());
        Assert.Equal(1, door.RefusedConnections);
        Assert.Equal(2, door.OpenConnections);

        // The ones taken are unaffected, and a place freed is taken again.
        first.GetStream().Write(Encoding.ASCII.GetBytes("still here\n"));
        Assert.Equal("line 1 still here", facts.Next());
        second.Close();
        Assert.Equal("read ended 2", facts.Next());
        door.Close(2); // as its owner does once the answers due are out
        Assert.Equal(1, door.OpenConnections);
        using var fourth = new TcpClient();
        fourth.Connect(IPAddress.Loopback, port);
        Assert.Equal("connected 3", facts.Next());
        Assert.Equal(1, door.RefusedConnections);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpDoor(IPAddress.Loopback, FreePort(), 100, facts, maxConnections: 0));
    }

    [Fact]
    public void A_port_in_use_is_refused_at_opening()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        var e = Assert.Throws<SocketException>(() => new TcpDoor(IPAddress.Loopback, port, 100, new Facts()));
        Assert.Equal(SocketError.AddressAlreadyInUse, e.SocketErrorCode);
    }

    private static int FreePort()
    {
        // Free for both protocols: the doors of one exposed port bind it twice.
        for (int attempt = 0; ; attempt++)
        {
            using var tcp = new TcpListener(IPAddress.Loopback, 0);
            tcp.Start();
            int port = ((IPEndPoint)tcp.LocalEndpoint).Port;
            tcp.Stop();
            try
            {
                using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) when (attempt < 20)
            {
            }
        }
    }
}
