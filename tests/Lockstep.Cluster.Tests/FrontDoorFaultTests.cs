using System.Globalization;
using System.Net;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// The front door through the other faults (FrontDoorTests has the kill of the primary's node): a kill -9 of
/// the secondary's node and a SIGSTOP of the primary's node that later comes back. Three nodes on
/// 127.0.0.1/.2/.3, a kv VM exposed on one port of each, clients made of plain sockets; every INCR must be
/// answered with its own count (executed exactly once) and no TCP connection to a surviving node reset.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FrontDoorFaultTests(ProgramFixture program, ITestOutputHelper output)
{
    private const string Vm = "kv";
    private const int AnswersBeforeFault = 30;
    private static readonly TimeSpan GiveUp = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Udp_and_tcp_clients_stream_incrs_through_a_kill_of_the_secondarys_node()
    {
        const int requests = 150;
        await using var cluster = new LoopbackCluster(program, output, nameof(Udp_and_tcp_clients_stream_incrs_through_a_kill_of_the_secondarys_node), 5700);
        var (before, nodes) = await StartExposed(cluster, 15700);
        var primary = cluster.NodeAt(before.Primary);
        var secondary = cluster.NodeAt(before.Secondary);
        var bystander = cluster.Nodes.Single(n => n != primary && n != secondary);
        // The UDP client starts at the node that dies; one TCP client at the primary's node, one at the third.
        using var udp = new PlainUdpClient(nodes, secondary.Index, cluster.Log);
        using var tcpAtPrimary = new PlainTcpClient();
        await tcpAtPrimary.Connect(nodes[primary.Index], cluster.Cancel);
        using var tcpAtBystander = new PlainTcpClient();
        await tcpAtBystander.Connect(nodes[bystander.Index], cluster.Cancel);

        var udpAnswers = new List<string>();
        var primaryAnswers = new List<string>();
        var bystanderAnswers = new List<string>();
        var runs = new[]
        {
            RunUdp(udp, "cu", requests, udpAnswers, cluster.Cancel),
            RunTcp(tcpAtPrimary, "p", "cp", requests, primaryAnswers, cluster.Cancel),
            RunTcp(tcpAtBystander, "b", "cb", requests, bystanderAnswers, cluster.Cancel),
        };
        await WaitForAnswers(cluster, runs, AnswersBeforeFault, udpAnswers, primaryAnswers, bystanderAnswers);
        Assert.True(Count(udpAnswers) < requests, "the UDP stream ended before the kill");
        cluster.KillNode(secondary);
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(120), cluster.Cancel);

        cluster.Log($"UDP: {udp.Resends} resends, longest wait {udp.LongestWaitMs:F0} ms; TCP at the primary's node: longest wait " +
            $"{tcpAtPrimary.LongestWaitMs:F0} ms; TCP at {bystander.Label}: longest wait {tcpAtBystander.LongestWaitMs:F0} ms; no connection reset");
        AssertCounted(udpAnswers, requests, "UDP");
        AssertCounted(primaryAnswers, requests, "TCP to the primary's node");
        AssertCounted(bystanderAnswers, requests, "TCP to the third node");
        Assert.True(udp.Resends > 0, "the UDP client never had to resend: the kill did not land in its stream");
        // The primary went on alone (a new generation, the same node), then got a new secondary on the third node.
        var after = await cluster.WaitForStatus(Vm, s => s.Generation > before.Generation && s.State == "Protected", TimeSpan.FromSeconds(60), "Protected again");
        Assert.Equal(before.Primary, after.Primary);
        Assert.Equal(bystander.Endpoint, after.Secondary);
        cluster.Passed();
    }

    [Fact]
    public async Task A_stopped_primarys_node_coming_back_runs_nothing_its_socket_held_again()
    {
        const int requests = 400;
        const int answersWhileStopped = 100; // beyond the 64 request ids kv remembers per peer
        await using var cluster = new LoopbackCluster(program, output, nameof(A_stopped_primarys_node_coming_back_runs_nothing_its_socket_held_again), 5710);
        var (before, nodes) = await StartExposed(cluster, 15710);
        var primary = cluster.NodeAt(before.Primary);
        var secondary = cluster.NodeAt(before.Secondary);
        var bystander = cluster.Nodes.Single(n => n != primary && n != secondary);
        // The UDP client talks to the node that stops: its request waits in that node's socket until it comes back.
        using var udp = new PlainUdpClient(nodes, primary.Index, cluster.Log);
        using var tcp = new PlainTcpClient();
        await tcp.Connect(nodes[bystander.Index], cluster.Cancel);

        var udpAnswers = new List<string>();
        var tcpAnswers = new List<string>();
        var runs = new[]
        {
            RunUdp(udp, "cu", requests, udpAnswers, cluster.Cancel),
            RunTcp(tcp, "t", "ct", requests, tcpAnswers, cluster.Cancel),
        };
        await WaitForAnswers(cluster, runs, AnswersBeforeFault, udpAnswers, tcpAnswers);
        int atStop = Count(udpAnswers);
        cluster.PauseNode(primary);
        // Back once the client went on by more requests than kv remembers (or after 5 s: before the node is downed).
        var stopped = System.Diagnostics.Stopwatch.StartNew();
        while (Count(udpAnswers) < atStop + answersWhileStopped && stopped.Elapsed < TimeSpan.FromSeconds(5)) await Task.Delay(20, cluster.Cancel);
        int whileStopped = Count(udpAnswers) - atStop;
        cluster.ResumeNode(primary);
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(120), cluster.Cancel);

        cluster.Log($"the UDP client went on by {whileStopped} requests while {primary.Label} was stopped ({stopped.Elapsed.TotalMilliseconds:F0} ms); " +
            $"{udp.Resends} resends, {udp.Repeats} repeated answers dropped; TCP at {bystander.Label}: longest wait {tcp.LongestWaitMs:F0} ms");
        Assert.True(whileStopped > 64, $"the client went on by only {whileStopped} requests while the node was stopped: the late copy was not put to the test");
        AssertCounted(udpAnswers, requests, "UDP");
        AssertCounted(tcpAnswers, requests, "TCP to the third node");
        // What the stopped node's socket held was dropped there, not run again by the new primary.
        await WaitUntil(() => primary.Output.Contains("datagrams that waited more than", StringComparison.Ordinal), TimeSpan.FromSeconds(20),
            $"{primary.Label} did not say it dropped the datagrams its socket held while stopped");
        var after = await cluster.WaitForStatus(Vm, s => s.Generation > before.Generation && s.Primary == secondary.Endpoint, TimeSpan.FromSeconds(30), "taken over");
        cluster.Log($"after: {after}");
        cluster.Passed();
    }

    private async Task<(VmStatusView Before, List<IPEndPoint> Nodes)> StartExposed(LoopbackCluster cluster, int exposed)
    {
        await cluster.StartNodes();
        var created = await cluster.Cli(["vm", "create", Vm, "--image", program.KvImage, "--expose", exposed.ToString(CultureInfo.InvariantCulture), "--contact", cluster.Contact]);
        Assert.True(created.ExitCode == 0, $"vm create failed: {created}");
        var before = await cluster.WaitForStatus(Vm, s => s.State == "Protected" && s.Secondary is not null, TimeSpan.FromSeconds(40), "Protected");
        var nodes = cluster.Nodes.Select(n => new IPEndPoint(IPAddress.Parse(n.Host), exposed)).ToList();
        // Every node listens (its listener opens when the exposure reaches it).
        await WaitUntil(() => cluster.Nodes.All(n => n.Output.Contains($"front door {Vm}: listening on", StringComparison.Ordinal)), TimeSpan.FromSeconds(30),
            "not every node listens for the VM");
        return (before, nodes);
    }

    private static Task RunUdp(PlainUdpClient client, string key, int requests, List<string> answers, CancellationToken cancel) =>
        Task.Run(async () =>
        {
            for (int i = 1; i <= requests; i++)
            {
                string answer = await client.Ask($"u{i}", $"INCR {key}", GiveUp, cancel);
                lock (answers) answers.Add(i + "=" + answer);
                await Task.Delay(5, cancel);
            }
        }, cancel);

    /// <summary>INCRs one at a time on one connection, never resent: whatever a failover costs, the front door must make up for.</summary>
    private static Task RunTcp(PlainTcpClient client, string prefix, string key, int requests, List<string> answers, CancellationToken cancel) =>
        Task.Run(async () =>
        {
            for (int i = 1; i <= requests; i++)
            {
                string answer = await client.Ask($"{prefix}{i}", $"INCR {key}", GiveUp, cancel);
                lock (answers) answers.Add(i + "=" + answer);
                await Task.Delay(5, cancel);
            }
        }, cancel);

    private static async Task WaitForAnswers(TestCluster cluster, Task[] runs, int count, params List<string>[] streams)
    {
        while (streams.Any(s => Count(s) < count))
        {
            if (runs.FirstOrDefault(r => r.IsFaulted) is { } failed) await failed; // its exception says what went wrong
            await Task.Delay(20, cluster.Cancel);
        }
    }

    private static async Task WaitUntil(Func<bool> condition, TimeSpan within, string failure)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > within) throw new Xunit.Sdk.XunitException($"{failure} within {within.TotalSeconds:0} s");
            await Task.Delay(100);
        }
    }

    private static int Count(List<string> answers)
    {
        lock (answers) return answers.Count;
    }

    /// <summary>Request i of a stream that runs one request at a time must be answered i: each INCR executed once.</summary>
    private static void AssertCounted(List<string> answers, int requests, string what)
    {
        Assert.Equal(requests, answers.Count);
        var wrong = answers.Where(a => a.Split('=') is var p && p[0] != p[1]).ToList();
        Assert.True(wrong.Count == 0, $"{what}: {wrong.Count} INCRs not answered with their own count (request=answer): {string.Join(", ", wrong.Take(20))}");
    }
}
