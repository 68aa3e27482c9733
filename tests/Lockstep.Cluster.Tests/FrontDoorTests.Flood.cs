using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Lockstep.Cluster.Tests;

public sealed partial class FrontDoorTests
{
    /// <summary>
    /// A UDP client sends requests to one node's exposed port as fast as it can for several seconds: the nodes' memory
    /// (RSS, from /proc) stays bounded, the drops are counted in `vm status --json` (figures.doorDropped), and meanwhile
    /// a polite client of the same VM and a client of another VM on the same nodes are still answered.
    /// </summary>
    [Fact]
    public async Task A_udp_flood_costs_bounded_memory_is_counted_in_status_and_others_are_still_answered()
    {
        const int exposed = 5950, otherPort = 5951;
        await using var cluster = new LoopbackCluster(program, output, nameof(A_udp_flood_costs_bounded_memory_is_counted_in_status_and_others_are_still_answered), 5940);
        await cluster.StartNodes();
        await cluster.CreateKv(Vm);
        await cluster.CreateKv("kv2");
        foreach (var (vm, port) in new[] { (Vm, exposed), ("kv2", otherPort) })
        {
            var expose = await cluster.Cli(["vm", "expose", vm, port.ToString(CultureInfo.InvariantCulture), "--contact", cluster.Contact]);
            Assert.True(expose.ExitCode == 0, $"vm expose {vm} failed: {expose}");
        }
        await WaitForListeners(cluster, exposed, open: 3);
        var doors = cluster.Nodes.Select(n => new IPEndPoint(IPAddress.Parse(n.Host), exposed)).ToList();
        var otherDoors = cluster.Nodes.Select(n => new IPEndPoint(IPAddress.Parse(n.Host), otherPort)).ToList();
        using var polite = new PlainUdpClient(doors, 1, cluster.Log);
        using var neighbour = new PlainUdpClient(otherDoors, 2, cluster.Log);
        Assert.Equal("1", await polite.Ask("p0", "INCR polite", GiveUp, cluster.Cancel));
        Assert.Equal("1", await neighbour.Ask("n0", "INCR n", GiveUp, cluster.Cancel));

        long[] before = cluster.Nodes.Select(n => Rss(n.Process.Id)).ToArray();
        using var flood = new CancellationTokenSource(TimeSpan.FromSeconds(8));
        long sent = 0;
        var flooding = Task.Run(() =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(doors[0]);
            var packet = Encoding.ASCII.GetBytes("f1 INCR flood " + new string('x', 200));
            while (!flood.IsCancellationRequested)
            {
                socket.Send(packet);
                sent++;
            }
        });
        // The others go on meanwhile, one request at a time, each answered (resent by the client after 300 ms if need be).
        int politeAnswers = 0, neighbourAnswers = 0;
        while (!flooding.IsCompleted)
        {
            Assert.Equal((politeAnswers + 2).ToString(CultureInfo.InvariantCulture), await polite.Ask($"p{politeAnswers + 1}", "INCR polite", GiveUp, cluster.Cancel));
            politeAnswers++;
            Assert.Equal((neighbourAnswers + 2).ToString(CultureInfo.InvariantCulture), await neighbour.Ask($"n{neighbourAnswers + 1}", "INCR n", GiveUp, cluster.Cancel));
            neighbourAnswers++;
            await Task.Delay(50, cluster.Cancel);
        }
        await flooding;
        long[] after = cluster.Nodes.Select(n => Rss(n.Process.Id)).ToArray();
        string rss = string.Join(", ", cluster.Nodes.Select((n, i) => $"{n.Label} {before[i] / 1048576} -> {after[i] / 1048576} MiB"));
        cluster.Log($"flooded {doors[0]} with {sent:N0} datagrams in 8 s; RSS {rss}; meanwhile {politeAnswers} polite and {neighbourAnswers} neighbour requests answered");

        // Counted where the status shows them (the doors report at most once a second).
        long dropped = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            var status = await cluster.Cli(["vm", "status", Vm, "--json", "--contact", cluster.Contact]);
            dropped = JsonNode.Parse(string.Join("\n", status.Stdout))?["figures"]?["doorDropped"]?.GetValue<long>() ?? 0;
            if (dropped > 0) break;
            await Task.Delay(500, cluster.Cancel);
        }
        cluster.Log($"figures.doorDropped of {Vm}: {dropped:N0}");
        Assert.True(dropped > 0, "the flood's drops are not in vm status --json (figures.doorDropped)");
        Assert.True(politeAnswers >= 5 && neighbourAnswers >= 5, $"others were starved: {politeAnswers} polite, {neighbourAnswers} neighbour answers in 8 s");
        // Bounded: what a queue of every datagram would cost is sent x its size (hundreds of MiB); the bounds keep it near the start.
        for (int i = 0; i < after.Length; i++)
            Assert.True(after[i] - before[i] < 200L * 1048576, $"node {cluster.Nodes[i].Label} grew from {before[i] / 1048576} to {after[i] / 1048576} MiB under the flood");
        Assert.Equal((politeAnswers + 2).ToString(CultureInfo.InvariantCulture), await polite.Ask("last", "INCR polite", GiveUp, cluster.Cancel));
        cluster.Passed();
    }

    private static long Rss(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }
}
