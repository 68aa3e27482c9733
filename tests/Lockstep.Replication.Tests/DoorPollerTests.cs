using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Lockstep.Replication.FrontDoor;

namespace Lockstep.Replication.Tests;

/// <summary>
/// Many front doors in one process share one reading thread (Linux): none of them has a thread of its own, a door
/// with a backlog does not hold the others back, and a closed door reports nothing more.
/// </summary>
public sealed class DoorPollerTests
{
    private sealed class Facts(string door, ConcurrentQueue<string> seen, Action? onDatagram = null) : IDoorFacts
    {
        public void Datagram(IPEndPoint client, byte[] data)
        {
            seen.Enqueue($"{door} {Encoding.ASCII.GetString(data)}");
            onDatagram?.Invoke();
        }

        public void DatagramTooLarge(IPEndPoint client, int length) => seen.Enqueue($"{door} too large");
        public void Connected(long connection, IPEndPoint client) => seen.Enqueue($"{door} connected");
        public void Line(long connection, byte[] data) => seen.Enqueue($"{door} line {Encoding.ASCII.GetString(data)}");
        public void LineTooLong(long connection) { }
        public void ReadEnded(long connection) { }
        public void Disconnected(long connection, string why) { }
        public void DoorFailed(string what, string why) => seen.Enqueue($"{door} failed {what}: {why}");
    }

    private static IEnumerable<string> ThreadNames() =>
        Directory.GetDirectories("/proc/self/task").Select(task =>
        {
            try
            {
                return File.ReadAllText(Path.Combine(task, "comm")).Trim();
            }
            catch (IOException)
            {
                return ""; // the thread ended meanwhile
            }
        });

    private static void WaitFor(Func<bool> condition, string what)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"{what} within 10 s");
            Thread.Sleep(10);
        }
    }

    [Fact]
    public void Two_hundred_doors_of_each_kind_take_no_thread_each_and_all_hear_their_clients()
    {
        if (!OperatingSystem.IsLinux()) return; // elsewhere each door keeps its own thread, by design
        var seen = new ConcurrentQueue<string>();
        var udp = new List<UdpDoor>();
        var tcp = new List<TcpDoor>();
        try
        {
            for (int i = 0; i < 200; i++)
            {
                var door = new UdpDoor(IPAddress.Loopback, 0, 1000, new Facts($"u{i}", seen));
                door.Start();
                udp.Add(door);
                var listener = new TcpDoor(IPAddress.Loopback, 0, 1000, new Facts($"t{i}", seen));
                listener.Start();
                tcp.Add(listener);
            }
            var ports = udp.Select(d => d.LocalEndPoint.Port).Concat(tcp.Select(d => d.LocalEndPoint.Port)).ToHashSet();
            var ownThreads = ThreadNames().Where(name => name.StartsWith("udp-door-") || name.StartsWith("tcp-door-"))
                .Where(name => int.TryParse(name.Split('-')[2], out int port) && ports.Contains(port) && name.Split('-').Length == 3).ToList();
            Assert.Empty(ownThreads);

            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            foreach (var (door, i) in udp.Select((d, i) => (d, i))) client.SendTo(Encoding.ASCII.GetBytes($"hello {i}"), door.LocalEndPoint);
            var connections = tcp.Select(d =>
            {
                var c = new TcpClient();
                c.Connect(d.LocalEndPoint);
                return c;
            }).ToList();
            try
            {
                WaitFor(() => seen.Count(s => s.EndsWith(" connected")) == 200 && seen.Count(s => s.Contains(" hello ")) == 200,
                    "every door did not report its client");
                for (int i = 0; i < 200; i++)
                {
                    Assert.Contains($"u{i} hello {i}", seen);
                    Assert.Contains($"t{i} connected", seen);
                }
                Assert.DoesNotContain(seen, s => s.Contains(" failed "));
            }
            finally
            {
                foreach (var c in connections) c.Dispose();
            }
        }
        finally
        {
            foreach (var door in udp) door.Dispose();
            foreach (var door in tcp) door.Dispose();
        }
    }

    [Fact]
    public void A_door_with_a_backlog_lets_another_door_read_before_it_has_read_all_of_it()
    {
        if (!OperatingSystem.IsLinux()) return; // elsewhere each door reads on its own thread
        var seen = new ConcurrentQueue<string>();
        // The poller's thread is held in a door's report while the other two get their datagrams and open, so both are
        // waiting when it comes back: the busy door's backlog first in its list.
        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        using var gate = new UdpDoor(IPAddress.Loopback, 0, 1000, new Facts("gate", seen, () =>
        {
            held.Set();
            release.Wait(TimeSpan.FromSeconds(10));
        }));
        using var busy = new UdpDoor(IPAddress.Loopback, 0, 1000, new Facts("busy", seen));
        using var quiet = new UdpDoor(IPAddress.Loopback, 0, 1000, new Facts("quiet", seen));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        gate.Start();
        client.SendTo("hold"u8.ToArray(), gate.LocalEndPoint);
        Assert.True(held.Wait(TimeSpan.FromSeconds(10)), "the poller did not read the gate's datagram");
        for (int i = 0; i < 100; i++) client.SendTo(Encoding.ASCII.GetBytes($"{i}"), busy.LocalEndPoint);
        client.SendTo("alone"u8.ToArray(), quiet.LocalEndPoint);
        Thread.Sleep(50); // on loopback they are in the sockets well before this
        busy.Start();
        quiet.Start();
        release.Set();
        WaitFor(() => seen.Contains("quiet alone") && seen.Count(s => s.StartsWith("busy ")) == 100, "the doors did not read what waited");
        var order = seen.Where(s => !s.StartsWith("gate ")).ToList();
        int quietAt = order.IndexOf("quiet alone");
        Assert.True(quietAt < 50, $"the quiet door's datagram was read only after {quietAt} of the busy door's");
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"busy {i}"), order.Where(s => s.StartsWith("busy ")));
    }

    [Fact]
    public void A_closed_door_reports_nothing_more_and_the_others_go_on()
    {
        var seen = new ConcurrentQueue<string>();
        var closed = new UdpDoor(IPAddress.Loopback, 0, 1000, new Facts("closed", seen));
        using var open = new UdpDoor(IPAddress.Loopback, 0, 1000, new Facts("open", seen));
        closed.Start();
        open.Start();
        var closedAt = closed.LocalEndPoint;
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.SendTo("before"u8.ToArray(), closedAt);
        WaitFor(() => seen.Contains("closed before"), "the door did not report a datagram before its close");
        closed.Dispose();
        for (int i = 0; i < 50; i++) client.SendTo("after"u8.ToArray(), closedAt);
        client.SendTo("still"u8.ToArray(), open.LocalEndPoint);
        WaitFor(() => seen.Contains("open still"), "the open door did not go on after another closed");
        Thread.Sleep(100);
        Assert.DoesNotContain("closed after", seen);
        Assert.DoesNotContain(seen, s => s.Contains(" failed "));
    }
}
