using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;
using Lockstep.Replication.Secondary;
using Xunit.Abstractions;

namespace Lockstep.Replication.Tests;

/// <summary>
/// Floods at the loop level: a client that sends faster than its guest reads, a guest (guests/flood.c: interrupts
/// off, never sleeping, transmitting packets and console bytes as fast as it can) whose outputs cannot leave, and
/// such a guest beside a kv VM on one VM thread. Memory stays bounded (drops counted, or the guest paused) and the
/// neighbour keeps its turn. The figures measured are written to the test output.
/// </summary>
[Collection(HeapMeasurementCollection.Name)]
public sealed class FloodTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly LockstepSettings Settings = LockstepSettings.Default with { HeartbeatTimeout = TimeSpan.FromSeconds(10) };

    private readonly List<Action> _cleanup = [];
    private readonly List<ReplicationEngine> _engines = [];

    public void Dispose()
    {
        foreach (var action in _cleanup) action();
        foreach (var engine in _engines) engine.Dispose();
    }

    private ReplicationEngine NewEngine(int threads)
    {
        var engine = new ReplicationEngine("127.0.0.1", 0, Settings with { VmThreads = threads });
        _engines.Add(engine);
        return engine;
    }

    /// <summary>Counts what a loop releases; keeps the kv guest's answers (the flood's are only counted).</summary>
    private sealed class Facts : IPrimaryFacts, ISecondaryFacts
    {
        public readonly BlockingCollection<string> Answers = new();
        public readonly ManualResetEventSlim Ready = new(false), InSync = new(false), Lost = new(false);
        public readonly ConcurrentQueue<string> Problems = new();
        public long Packets, ConsoleBytes;
        public bool KeepAnswers;
        private readonly StringBuilder _console = new();

        public void Released(MachineOutput output)
        {
            if (output.Kind == OutputKind.Packet)
            {
                Interlocked.Increment(ref Packets);
                if (KeepAnswers) Answers.Add(Encoding.ASCII.GetString(output.Data));
            }
            else
            {
                Interlocked.Add(ref ConsoleBytes, output.Data.Length);
                if (!KeepAnswers) return;
                lock (_console)
                {
                    _console.Append(Encoding.ASCII.GetString(output.Data));
                    if (_console.ToString().Contains("kv: ready")) Ready.Set();
                }
            }
        }
        public void SecondaryInSync() => InSync.Set();
        public void SecondaryLost(CloseReason reason, string detail) => Lost.Set();
        public void AttachFailed(string detail) => Problems.Enqueue($"attach failed: {detail}");
        public void Ended(VmState state, string detail) => Problems.Enqueue($"ended {state}: {detail}");
        public void LogCut(LogSegment segment, byte[] encoded) { }
        public void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) { }
        public void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
        public void HandedOver(ulong position, double pauseMs) { }
        public void HandoverFailed(string detail) { }
        void ISecondaryFacts.HandedOver(Takeover takeover) { }
        void ISecondaryFacts.InSync() { }
        void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) { }
        void ISecondaryFacts.Ended(CloseReason? reason, string detail) { }
        void ISecondaryFacts.Refused(CloseReason reason, string detail) => Problems.Enqueue($"refused: {detail}");
    }

    private (PrimaryLoop Loop, Facts Facts) Start(string guest, ReplicationEngine engine)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoRoot.Guest(guest)));
        var facts = new Facts { KeepAnswers = guest == "kv" };
        var loop = new PrimaryLoop(guest, machine, 0, 0, Settings, engine, facts);
        _cleanup.Add(loop.Stop);
        loop.Start();
        return (loop, facts);
    }

    private static long LiveHeap() => GC.GetTotalMemory(forceFullCollection: true);

    [Fact]
    public void A_client_that_sends_faster_than_the_guest_reads_gets_its_packets_dropped_and_counted_not_queued()
    {
        var (loop, _) = Start("flood", NewEngine(2));
        long before = LiveHeap();
        const int sent = 200_000;
        int taken = 0;
        var packet = new byte[1024];
        for (int i = 0; i < sent; i++)
            if (loop.Deliver((uint)(i % 100), (byte[])packet.Clone())) taken++;
        Thread.Sleep(200); // the guest's boundaries move what waits into its device, up to the device's queue
        long grown = LiveHeap() - before;
        var stats = loop.Stats();
        output.WriteLine($"client flood: {sent} packets of 1 KiB sent, {taken} taken, {stats.PacketsDropped} dropped; live heap grew {grown / 1024} KiB");
        Assert.Equal(sent - taken, stats.PacketsDropped);
        // The guest never reads: what it can hold waiting is the arrivals' bound and its device queue's.
        Assert.InRange(taken, LiveInputs.MaxArrivals, LiveInputs.MaxArrivals + LiveInputs.MaxDeviceQueue + 64);
        Assert.True(grown < 16L << 20, $"the live heap grew {grown} bytes: unbounded would be {sent} KiB");
    }

    [Fact]
    public void A_guest_that_transmits_while_nothing_can_leave_is_paused_with_its_held_outputs_bounded()
    {
        var engine = NewEngine(2);
        var (loop, facts) = Start("flood", engine);
        var token = AttachToken.New();
        var secondary = new ReplayLoop("flood", MemoryMap.DefaultRamSize, engine, token, Settings, facts);
        _cleanup.Add(secondary.Stop);
        loop.Attach("127.0.0.1", secondary.Start(), token);
        Assert.True(facts.InSync.Wait(Patience), $"never protected: {string.Join("; ", facts.Problems)}");
        // The secondary goes: from now nothing leaves until the next generation is claimed (GoAlone), which is not.
        secondary.Stop();
        Assert.True(facts.Lost.Wait(Patience), "the primary never saw its secondary go");
        long before = LiveHeap();
        Assert.True(SpinWait.SpinUntil(() => loop.Stats().HeldOutputs >= OutputGate.MaxHeldOutputs, Patience), $"held only {loop.Stats().HeldOutputs}");
        var paused = loop.Stats();
        Thread.Sleep(1000);
        var later = loop.Stats();
        long grown = LiveHeap() - before;
        output.WriteLine($"holding: {later.HeldOutputs} outputs held (bound {OutputGate.MaxHeldOutputs}), {later.OutputPauses} paused steps, "
            + $"guest at {paused.Instructions} then {later.Instructions} instructions a second later; live heap grew {grown / 1024} KiB");
        // A step that found the gate full runs no guest instruction; the step before it made at most one output more.
        Assert.InRange(later.HeldOutputs, OutputGate.MaxHeldOutputs, OutputGate.MaxHeldOutputs + 2);
        Assert.True(later.OutputPauses > 0);
        Assert.Equal(paused.Instructions, later.Instructions);
        Assert.True(grown < 64L << 20, $"the live heap grew {grown} bytes while outputs were held");

        // Claimed: what was held leaves, and the guest runs on.
        long released = Interlocked.Read(ref facts.Packets);
        loop.GoAlone();
        Assert.True(SpinWait.SpinUntil(() => Interlocked.Read(ref facts.Packets) > released + OutputGate.MaxHeldOutputs / 2, Patience));
    }

    /// <param name="guest">flood (transmits without end) or spin (a tight loop that makes nothing: only the slice's bound gives the thread back).</param>
    [Theory]
    [InlineData("flood")]
    [InlineData("spin")]
    public void A_guest_in_a_tight_loop_with_interrupts_off_leaves_its_neighbour_on_the_same_vm_thread_its_turn(string guest)
    {
        var engine = NewEngine(1);
        var (kv, kvFacts) = Start("kv", engine);
        Assert.True(kvFacts.Ready.Wait(Patience), "kv never said ready");
        var alone = Latencies(kv, kvFacts, 1);
        var (hog, hogFacts) = Start(guest, engine);
        Assert.True(SpinWait.SpinUntil(() => hog.Stats().Instructions > 10 * Settings.SliceInstructions || Interlocked.Read(ref hogFacts.Packets) > 1000, Patience),
            $"{guest} never got going");
        var beside = Latencies(kv, kvFacts, 1001);
        var stats = hog.Stats();
        output.WriteLine($"kv answers on one VM thread: alone p50 {Percentile(alone, 50):F2} ms max {alone.Max():F2} ms; beside {guest} "
            + $"p50 {Percentile(beside, 50):F2} ms max {beside.Max():F2} ms; {guest} meanwhile ran {stats.Instructions} instructions and sent "
            + $"{Interlocked.Read(ref hogFacts.Packets)} packets, {Interlocked.Read(ref hogFacts.ConsoleBytes)} console bytes");
        // Every answer came (Latencies asserts that); beside a guest that never yields, each took a slice or so, not forever.
        Assert.True(beside.Max() < 2000, $"an answer took {beside.Max():F0} ms beside {guest}");
    }

    /// <summary>Twenty INCRs one after another, each answered before the next: the time each took, in ms.</summary>
    private static List<double> Latencies(PrimaryLoop kv, Facts facts, int first)
    {
        var latencies = new List<double>();
        for (int r = first; r < first + 20; r++)
        {
            long sentAt = Stopwatch.GetTimestamp();
            Assert.True(kv.Deliver(1, Encoding.ASCII.GetBytes($"{r} INCR k")));
            Assert.True(facts.Answers.TryTake(out var answer, Patience), $"no answer to request {r}: {string.Join("; ", facts.Problems)}");
            Assert.StartsWith($"{r} ", answer);
            latencies.Add(Stopwatch.GetElapsedTime(sentAt).TotalMilliseconds);
        }
        return latencies;
    }

    private static double Percentile(List<double> values, int percent)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, sorted.Count * percent / 100)];
    }
}
