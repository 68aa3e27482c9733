using System.Diagnostics;
using Lockstep.Actors.Node;
using Lockstep.Actors.Protocol;
using Lockstep.Replication;
using Xunit.Abstractions;

namespace Lockstep.Actors.Tests;

/// <summary>
/// `vm migrate --primary NODE`, a planned switchover, on a real three-node cluster in this process: a client streams INCRs
/// through a switchover to the secondary's node and one to the third node (the secondary moved there first), and sees every
/// request answered once and in order. The longest wait between two answers is printed, not asserted (timing on a shared
/// machine is for docs/benchmarks.md).
/// </summary>
[Collection("cluster")]
public sealed class SwitchoverTests : Akka.TestKit.Xunit2.TestKit
{
    private readonly ITestOutputHelper _output;

    public SwitchoverTests(ITestOutputHelper output) : base(output: output) => _output = output;

    private static byte[] Kv => File.ReadAllBytes(RepoRoot.Guest("kv"));

    private static string Ok(InProcessCluster cluster, IControlRequest request) => Assert.IsType<ControlOk>(cluster.Ask<object>(request)).Message;

    private static ControlErrorKind Refused(InProcessCluster cluster, IControlRequest request) =>
        Assert.IsType<ControlError>(cluster.Ask<object>(request)).Kind;

    private static VmStatus WaitFor(InProcessCluster cluster, Func<VmStatus, bool> condition, string what)
    {
        VmStatus? status = null;
        InProcessCluster.WaitUntil(() => (status = cluster.Status("sw")) is { } s && condition(s), TimeSpan.FromSeconds(40),
            $"{what} (last: {status?.State}, primary {status?.Primary}, secondary {status?.Secondary}, generation {status?.Generation}; "
            + $"history: {string.Join("; ", status?.History.Select(h => h.Reason) ?? [])})");
        return status!;
    }

    private static string NodeName(NodeHandles node)
    {
        var address = Akka.Cluster.Cluster.Get(node.System).SelfAddress;
        return $"{address.Host}:{address.Port}";
    }

    /// <summary>Counts up on its own thread until stopped, each INCR checked against the one before; records when each answer came.</summary>
    private sealed class StreamingClient(KvClient client) : IDisposable
    {
        private readonly List<(long Id, double AtMs)> _answers = [];
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private volatile bool _stop;
        private Task? _task;

        public void Start() => _task = Task.Run(() =>
        {
            for (long id = 1; !_stop; id++)
            {
                string answer = client.Request($"{id} INCR counter");
                if (answer != $"{id} {id}") throw new InvalidOperationException($"request {id} answered '{answer}'");
                lock (_answers) _answers.Add((id, _clock.Elapsed.TotalMilliseconds));
            }
        });

        public long Answered { get { lock (_answers) return _answers.Count; } }

        /// <summary>Waits until <paramref name="more"/> further answers came.</summary>
        public void WaitForMore(int more)
        {
            long target = Answered + more;
            InProcessCluster.WaitUntil(() => Answered >= target || _task!.IsCompleted, TimeSpan.FromSeconds(40), $"the client stalled at {Answered} answers");
            if (_task!.IsFaulted) _task.GetAwaiter().GetResult();
        }

        public double Now => _clock.Elapsed.TotalMilliseconds;

        /// <summary>The longest time between two answers after <paramref name="sinceMs"/>.</summary>
        public double LongestGapSince(double sinceMs)
        {
            lock (_answers)
            {
                var times = _answers.Where(a => a.AtMs >= sinceMs).Select(a => a.AtMs).ToList();
                var before = _answers.LastOrDefault(a => a.AtMs < sinceMs).AtMs;
                times.Insert(0, before);
                return times.Zip(times.Skip(1), (a, b) => b - a).DefaultIfEmpty(0).Max();
            }
        }

        public long StopAndCount()
        {
            _stop = true;
            _task!.GetAwaiter().GetResult(); // rethrows a wrong answer
            lock (_answers)
            {
                Assert.Equal(Enumerable.Range(1, _answers.Count).Select(i => (long)i), _answers.Select(a => a.Id));
                return _answers.Count;
            }
        }

        public void Dispose() => _stop = true;
    }

    [Fact]
    public void The_primary_switches_over_to_the_secondarys_node_and_to_a_third_node_with_every_request_answered_once_in_order()
    {
        using var cluster = new InProcessCluster(5500, 3);
        Assert.IsType<ControlOk>(cluster.Ask<object>(new CreateVm("sw", Kv, 16 << 20), TimeSpan.FromSeconds(15)));
        var start = cluster.WaitForProtected("sw");
        using var kv = new KvClient(this, cluster, 5509, "sw", 1);
        using var client = new StreamingClient(kv);
        client.Start();
        client.WaitForMore(20);

        // To the secondary's node: it takes over, the old primary's node takes the next secondary.
        double first = client.Now;
        Assert.Contains("switching", Ok(cluster, new MigratePrimary("sw", start.Secondary!)));
        var switched = WaitFor(cluster, s => s.State == VmState.Protected && s.Primary == start.Secondary && s.Generation > start.Generation,
            $"Protected with the primary on {start.Secondary}");
        Assert.Equal(start.Primary, switched.Secondary);
        client.WaitForMore(20);
        double firstGap = client.LongestGapSince(first);

        // To the third node: the secondary moves there first, then the switchover.
        string third = cluster.Alive.Select(NodeName).Single(n => n != switched.Primary && n != switched.Secondary);
        double second = client.Now;
        Assert.Contains("moving the secondary", Ok(cluster, new MigratePrimary("sw", third)));
        var moved = WaitFor(cluster, s => s.State == VmState.Protected && s.Primary == third, $"Protected with the primary on {third}");
        client.WaitForMore(20);
        double secondGap = client.LongestGapSince(second);

        long counted = client.StopAndCount();
        Assert.Equal($"{counted + 1} VALUE {counted}", kv.Request($"{counted + 1} GET counter"));
        _output.WriteLine($"switchover pause as the client saw it: longest gap between answers {firstGap:F0} ms (to the secondary's node), "
            + $"{secondGap:F0} ms (to a third node, secondary moved first); {counted} INCRs answered");

        var history = WaitFor(cluster, s => s.State == VmState.Protected, "Protected").History;
        var operations = history.Where(h => h.Kind == HistoryKind.Operation).ToList();
        Assert.Contains(operations, h => h.Reason == $"primary switched over to {start.Secondary} by the operator" && h.TookOver == start.Secondary && h.DurationMs > 0);
        Assert.Contains(operations, h => h.Reason == $"primary switched over to {third} by the operator" && h.TookOver == third);
        Assert.DoesNotContain(history, h => h.Kind == HistoryKind.Failover);
        Assert.True(moved.Generation > switched.Generation);
    }

    [Fact]
    public void A_switchover_is_refused_for_an_unknown_vm_or_node_and_without_protection_and_is_a_no_op_to_where_the_primary_is()
    {
        using var cluster = new InProcessCluster(5520, 3);
        Assert.IsType<ControlOk>(cluster.Ask<object>(new CreateVm("sw", Kv, 16 << 20), TimeSpan.FromSeconds(15)));
        var start = cluster.WaitForProtected("sw");

        Assert.Equal(ControlErrorKind.UnknownVm, Refused(cluster, new MigratePrimary("nosuch", start.Secondary!)));
        Assert.Equal(ControlErrorKind.UnknownNode, Refused(cluster, new MigratePrimary("sw", "127.0.0.1:1")));
        Assert.Contains("already", Ok(cluster, new MigratePrimary("sw", start.Primary!)));

        // While the secondary is being moved (until it is Protected again), a switchover must wait.
        string third = cluster.Alive.Select(NodeName).Single(n => n != start.Primary && n != start.Secondary);
        Ok(cluster, new MigrateSecondary("sw", third));
        Assert.Equal(ControlErrorKind.NotNow, Refused(cluster, new MigratePrimary("sw", third)));
        WaitFor(cluster, s => s.State == VmState.Protected && s.Secondary == third, $"Protected with the secondary on {third}");

        Ok(cluster, new SetProtection("sw", ProtectionMode.Off));
        WaitFor(cluster, s => s.State == VmState.Unprotected, "Unprotected");
        Assert.Equal(ControlErrorKind.NotNow, Refused(cluster, new MigratePrimary("sw", start.Secondary!)));
        Ok(cluster, new SetProtection("sw", ProtectionMode.Suspended));
        WaitFor(cluster, s => s.State == VmState.Suspended, "Suspended");
        Assert.Equal(ControlErrorKind.NotNow, Refused(cluster, new MigratePrimary("sw", start.Secondary!)));

        var after = cluster.Status("sw")!;
        Assert.Equal(start.Primary, after.Primary); // the primary did not move
        Assert.DoesNotContain(after.History, h => h.Reason.Contains("switched over"));
    }
}
