using Lockstep.Harness;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// Real node processes, real faults: a node's process is killed or frozen in the middle of a stream
/// of INCR requests, and the VM must answer every request exactly once and end up protected again.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class FailoverTests(ProgramFixture program, ITestOutputHelper output)
{
    private const string Vm = "kv1";
    private const string Key = "c";
    private const uint Peer = 9;
    private const int Requests = 200;

    /// <summary>Answers seen before the fault is injected, so that it lands mid-stream.</summary>
    private const int AnswersBeforeFault = 30;

    private static readonly TimeSpan StreamTimeout = TimeSpan.FromSeconds(90);

    /// <summary>How long the cluster may take to be Protected again after a fault.</summary>
    private static readonly TimeSpan Reprotect = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task KillPrimaryProcess()
    {
        await using var cluster = new TestCluster(program, output, nameof(KillPrimaryProcess), 4600);
        await cluster.StartNodes();
        var before = await cluster.CreateKv(Vm);
        var primary = cluster.NodeAt(before.Primary);

        await IncrStream.Start(cluster, Vm, Peer, "a", Key, Requests)
            .RunThroughFault(() => cluster.KillNode(primary), "the primary was killed", AnswersBeforeFault, StreamTimeout);
        await AssertValue(cluster, "g1", Requests);

        var survivors = cluster.Contacts.ToList();
        var after = await cluster.WaitForStatus(Vm, s => IsProtectedOn(s, survivors) && s.Generation > before.Generation,
            Reprotect, $"Protected on the surviving nodes with a generation above {before.Generation}", survivors);
        Assert.NotEqual(primary.Endpoint, after.Primary);
        Assert.NotEqual(primary.Endpoint, after.Secondary);
        cluster.Passed();
    }

    /// <summary>
    /// The whole machine stalls (every node stopped at once, then all go on): each link takes its own node's stall off
    /// the silence it counts, so the VM does not fail over, and the requests across it are answered exactly once.
    /// Counted as the peer's silence, the stall failed over every VM on every link at once (on a loaded machine with
    /// 1,000 VMs: 1,280 takeovers, then the split-brain resolver downed nodes). Akka's own failure detector allows a
    /// 3 s pause; this one is well inside it and twice the links' timeout.
    /// </summary>
    [Fact]
    public async Task AStallOfEveryNodeAtOnceFailsNothingOver()
    {
        await using var cluster = new TestCluster(program, output, nameof(AStallOfEveryNodeAtOnceFailsNothingOver), 4670);
        await cluster.StartNodes();
        var before = await cluster.CreateKv(Vm);

        await IncrStream.Start(cluster, Vm, Peer, "a", Key, Requests)
            .RunThroughFault(() => cluster.StallAllNodes(TimeSpan.FromSeconds(1.5)), "every node was stopped for 1.5 s", AnswersBeforeFault, StreamTimeout);
        await AssertValue(cluster, "g1", Requests);

        var after = await cluster.Status(Vm);
        Assert.NotNull(after);
        cluster.Log($"after the stall: {after}");
        Assert.Equal("Protected", after.State);
        Assert.Equal(before.Generation, after.Generation);
        Assert.Equal(before.Primary, after.Primary);
        Assert.Equal(before.Secondary, after.Secondary);
        cluster.Passed();
    }

    [Fact]
    public async Task PausePrimaryProcess()
    {
        await using var cluster = new TestCluster(program, output, nameof(PausePrimaryProcess), 4610);
        await cluster.StartNodes();
        var before = await cluster.CreateKv(Vm);
        var paused = cluster.NodeAt(before.Primary);

        // The client's only contact is the node that will freeze: its re-sends pile up in that node's
        // socket buffers and arrive, long after they were answered elsewhere, when it resumes.
        await IncrStream.Start(cluster, Vm, Peer, "a", Key, Requests, through: [paused])
            .RunThroughFault(() => cluster.PauseNode(paused), "the primary was paused", AnswersBeforeFault, StreamTimeout);

        var survivors = cluster.Contacts.ToList();
        var takenOver = await cluster.WaitForStatus(Vm,
            s => survivors.Any(n => n.Endpoint == s.Primary) && s.Generation > before.Generation,
            Reprotect, $"a primary on a surviving node with a generation above {before.Generation}", survivors);

        cluster.ResumeNode(paused);
        await Task.Delay(TimeSpan.FromSeconds(4), cluster.Cancel);
        cluster.Log(paused.Process.HasExited ? $"the resumed node exited with {paused.Process.ExitCode}" : "the resumed node still runs");

        // Every surviving node's view: one and the same live primary, never the resumed node.
        var views = new List<(NodeProcess Through, VmStatusView Status)>();
        foreach (var node in survivors)
        {
            for (int ask = 0; ask < 2; ask++)
            {
                var status = await cluster.Status(Vm, [node]);
                Assert.True(status is not null, $"vm status through {node} failed after the old primary resumed");
                cluster.Log($"through {node.Endpoint}: {status}");
                views.Add((node, status));
            }
        }
        foreach (var (through, status) in views)
        {
            Assert.True(status.Primary is not null, $"no primary reported through {through}: {status.Json}");
            Assert.True(status.Primary != paused.Endpoint,
                $"the resumed node {paused.Endpoint} is reported as primary through {through}: {status.Json}");
            Assert.True(status.Generation >= takenOver.Generation,
                $"generation went back from {takenOver.Generation} through {through}: {status.Json}");
        }
        var primaries = views.Select(v => v.Status.Primary).Distinct().ToList();
        Assert.True(primaries.Count == 1, $"the surviving nodes disagree on the primary: {string.Join(", ", primaries)}");
        Assert.Equal(takenOver.Primary, primaries[0]);

        // The resumed side must give up rather than go on: its log says it lost the claim, or the cluster shut it out.
        string resumedLog = paused.Output;
        bool stepped = resumedLog.Contains("was claimed by another side; this primary stops", StringComparison.Ordinal);
        bool shutOut = resumedLog.Contains("Node has been marked as DOWN", StringComparison.Ordinal)
            || resumedLog.Contains("Shutting down myself", StringComparison.Ordinal);
        cluster.Log($"resumed node: lost its claim: {stepped}; downed/shut down: {shutOut}");
        Assert.True(stepped || shutOut,
            $"the resumed node's log shows neither a lost claim nor a shutdown:\n{TestCluster.Tail(resumedLog, 40)}");

        // The counter goes on from where the stream left it, still exactly once per request.
        var more = IncrStream.Start(cluster, Vm, Peer, "b", Key, 10);
        var moreLines = await more.Finish(StreamTimeout);
        more.AssertExactlyOnce(moreLines, before: Requests);
        await AssertValue(cluster, "g1", Requests + 10);

        // Protected again, on nodes of the cluster (the resumed one may host the secondary), its primary elsewhere.
        var live = cluster.Nodes.Where(n => !n.Process.HasExited).ToList();
        await cluster.WaitForStatus(Vm, s => IsProtectedOn(s, live) && s.Primary != paused.Endpoint,
            Reprotect, $"Protected again, the primary not on the resumed node {paused.Endpoint}", survivors);
        cluster.Passed();
    }

    [Fact]
    public Task KillSecondaryProcess() =>
        LoseSecondaryNode(nameof(KillSecondaryProcess), 4620, "the secondary was killed", (cluster, node) => cluster.KillNode(node));

    [Fact]
    public Task SecondaryNodeLeaves() =>
        LoseSecondaryNode(nameof(SecondaryNodeLeaves), 4660, "the secondary's node was told to leave", (cluster, node) => cluster.LeaveNode(node),
            afterStream: async (cluster, node) =>
            {
                // A graceful leave ends the process by itself, with success: it was not downed.
                Assert.True(await node.Process.WaitForExit(TimeSpan.FromSeconds(30), cluster.Cancel), $"{node} did not exit within 30 s of SIGTERM");
                Assert.True(node.Process.ExitCode == 0, $"{node} exited with {node.Process.ExitCode} after leaving");
            });

    /// <summary>
    /// The secondary's node goes (<paramref name="fault"/>) in the middle of a stream of INCRs: every request is
    /// answered exactly once, and the primary stays and is Protected again with its secondary on the third node.
    /// </summary>
    private async Task LoseSecondaryNode(string name, int basePort, string what, Action<TestCluster, NodeProcess> fault,
        Func<TestCluster, NodeProcess, Task>? afterStream = null)
    {
        await using var cluster = new TestCluster(program, output, name, basePort);
        await cluster.StartNodes();
        var before = await cluster.CreateKv(Vm);
        var primary = cluster.NodeAt(before.Primary);
        var secondary = cluster.NodeAt(before.Secondary);
        var third = cluster.Nodes.Single(n => n != primary && n != secondary);

        await IncrStream.Start(cluster, Vm, Peer, "a", Key, Requests)
            .RunThroughFault(() => fault(cluster, secondary), what, AnswersBeforeFault, StreamTimeout);
        await AssertValue(cluster, "g1", Requests);
        if (afterStream is not null) await afterStream(cluster, secondary);

        var survivors = cluster.Contacts.ToList();
        var after = await cluster.WaitForStatus(Vm, s => IsProtectedOn(s, survivors) && s.Secondary == third.Endpoint,
            Reprotect, $"Protected with the secondary on the third node {third.Endpoint}", survivors);
        Assert.Equal(primary.Endpoint, after.Primary);
        Assert.True(after.Generation >= before.Generation, $"generation went back: {before.Generation} -> {after.Generation}");
        cluster.Passed();
    }

    private static bool IsProtectedOn(VmStatusView status, IReadOnlyList<NodeProcess> nodes) =>
        status.State == "Protected"
        && nodes.Any(n => n.Endpoint == status.Primary)
        && nodes.Any(n => n.Endpoint == status.Secondary)
        && status.Primary != status.Secondary;

    /// <summary>A GET through `vm send` must agree with the last INCR.</summary>
    private static async Task AssertValue(TestCluster cluster, string id, long expected)
    {
        var result = await cluster.Cli(
            ["vm", "send", Vm, "--peer", Peer.ToString(), "--retry-ms", "300", "--timeout", "30", "--contact", cluster.Contact],
            stdin: $"{id} GET {Key}\n");
        Assert.True(result.ExitCode == 0, $"GET failed: {result}");
        Assert.Equal([$"{id} VALUE {expected}"], result.Stdout);
    }
}
