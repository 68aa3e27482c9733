using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;
using Lockstep.Replication.Scheduling;
using Lockstep.Replication.Secondary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The real primary and replay loops sharing a node's VM threads: many protected kv VMs on two
/// threads, and the blocking parts (the attach's connect) kept off them.
/// </summary>
public sealed class ScheduledLoopsTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Failure detection is not what these tests are about: twenty VM sides warming up their translators
    /// at the same moment went silent past the default timeout on this shared machine at a load of 25-40,
    /// on their own threads (main) as on two VM threads.
    /// </summary>
    private static readonly LockstepSettings Settings = LockstepSettings.Default with { HeartbeatTimeout = TimeSpan.FromSeconds(10) };

    private readonly List<Action> _cleanup = [];
    private readonly List<ReplicationEngine> _engines = [];

    /// <summary>
    /// An engine with <paramref name="threads"/> VM threads, on which both sides of a VM run (its primary's
    /// link to its own listener stands in for the link between two nodes). Disposed after the test's loops
    /// were stopped, so that their stop commands still run.
    /// </summary>
    private ReplicationEngine NewScheduler(int threads)
    {
        var engine = new ReplicationEngine("127.0.0.1", 0, Settings with { VmThreads = threads });
        _engines.Add(engine);
        return engine;
    }

    /// <summary>What one kv primary reported: its packets, protection, attach failures.</summary>
    private sealed class Facts : IPrimaryFacts, ISecondaryFacts
    {
        public readonly BlockingCollection<string> Answers = new();
        public readonly ManualResetEventSlim Ready = new(false), InSync = new(false);
        public readonly BlockingCollection<string> AttachFailures = new();
        public readonly ConcurrentQueue<string> Problems = new();
        private readonly StringBuilder _console = new();

        public void Released(MachineOutput output)
        {
            if (output.Kind == OutputKind.Packet) Answers.Add(Encoding.ASCII.GetString(output.Data));
            else lock (_console)
            {
                _console.Append(Encoding.ASCII.GetString(output.Data));
                if (_console.ToString().Contains("kv: ready")) Ready.Set();
            }
        }
        public void SecondaryInSync() => InSync.Set();
        public void SecondaryLost(CloseReason reason, string detail) => Problems.Enqueue($"secondary lost: {detail}");
        public void AttachFailed(string detail) => AttachFailures.Add(detail);
        public void Ended(VmState state, string detail) => Problems.Enqueue($"ended {state}: {detail}");
        public void LogCut(LogSegment segment, byte[] encoded) { }
        public void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) { }
        public void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
        public void HandedOver(ulong position, double pauseMs) => Problems.Enqueue($"handed over at {position} unasked");
        public void HandoverFailed(string detail) => Problems.Enqueue($"handover failed: {detail}");
        void ISecondaryFacts.HandedOver(Takeover takeover) => Problems.Enqueue("took a handover unasked");
        void ISecondaryFacts.InSync() { }
        void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) => Problems.Enqueue($"primary lost: {detail}");
        void ISecondaryFacts.Ended(CloseReason? reason, string detail) { }
        void ISecondaryFacts.Refused(CloseReason reason, string detail) => Problems.Enqueue($"refused: {detail}");
    }

    private (PrimaryLoop Primary, Facts Facts) StartKv(string name, ReplicationEngine scheduler)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoRoot.Guest("kv")));
        var facts = new Facts();
        var primary = new PrimaryLoop(name, machine, 0, 0, Settings, scheduler, facts);
        _cleanup.Add(primary.Stop);
        primary.Start();
        Assert.True(facts.Ready.Wait(Patience), $"{name} never said ready");
        return (primary, facts);
    }

    private ReplayLoop Protect(string name, PrimaryLoop primary, Facts facts, ReplicationEngine scheduler)
    {
        var token = AttachToken.New();
        var secondary = new ReplayLoop(name, MemoryMap.DefaultRamSize, scheduler, token, Settings, facts);
        _cleanup.Add(secondary.Stop);
        primary.Attach("127.0.0.1", secondary.Start(), token);
        return secondary;
    }

    [Fact]
    public void Many_protected_vms_on_two_vm_threads_all_answer_in_order()
    {
        var scheduler = NewScheduler(2);
        const int vms = 10, requests = 30;
        var started = Enumerable.Range(0, vms).Select(i => StartKv($"many{i}", scheduler)).ToList();
        // One after another, as placement brings them in.
        for (int i = 0; i < vms; i++)
        {
            Protect($"many{i}", started[i].Primary, started[i].Facts, scheduler);
            Assert.True(started[i].Facts.InSync.Wait(Patience), $"many{i} never protected: {string.Join("; ", started[i].Facts.Problems)}");
        }

        // Interleaved across VMs, each its own counter: every answer comes back, in order, from its own VM.
        for (int r = 1; r <= requests; r++)
            foreach (var (primary, _) in started) primary.Deliver(1, Encoding.ASCII.GetBytes($"{r} INCR k"));
        for (int i = 0; i < vms; i++)
            for (int r = 1; r <= requests; r++)
            {
                Assert.True(started[i].Facts.Answers.TryTake(out var answer, Patience), $"many{i}: no answer to request {r} ({string.Join("; ", started[i].Facts.Problems)})");
                Assert.Equal($"{r} {r}", answer);
            }
        Assert.All(started, s => Assert.Empty(s.Facts.Problems));
    }

    [Fact]
    public void A_connect_that_hangs_does_not_hold_up_the_vm_thread()
    {
        // One VM thread: if the connect ran on it, nothing else could run until the connect timed out.
        var scheduler = NewScheduler(1);
        var (primary, facts) = StartKv("hung", scheduler);
        var (neighbour, neighbourFacts) = StartKv("neighbour", scheduler);
        using var hung = HungListener();

        primary.Attach("127.0.0.1", hung.Port, AttachToken.New());
        primary.Deliver(1, Encoding.ASCII.GetBytes("1 INCR k"));
        neighbour.Deliver(1, Encoding.ASCII.GetBytes("1 INCR k"));
        Assert.True(facts.Answers.TryTake(out var answer, Patience), "the attaching primary did not answer");
        Assert.Equal("1 1", answer);
        Assert.True(neighbourFacts.Answers.TryTake(out var other, Patience), "the other VM on the thread did not answer");
        Assert.Equal("1 1", other);
        Assert.Empty(facts.AttachFailures); // answered while the connect still hung

        Assert.True(facts.AttachFailures.TryTake(out _, Patience), "the hung connect was never reported as failed");
        primary.Deliver(1, Encoding.ASCII.GetBytes("2 INCR k"));
        Assert.True(facts.Answers.TryTake(out answer, Patience));
        Assert.Equal("2 2", answer);
    }

    [Fact]
    public void A_secondary_dismissed_while_connecting_fails_the_attach_at_once_and_the_next_attach_works()
    {
        var scheduler = NewScheduler(2);
        var (primary, facts) = StartKv("dismissed", scheduler);
        using var hung = HungListener();

        primary.Attach("127.0.0.1", hung.Port, AttachToken.New());
        primary.Attach("127.0.0.1", hung.Port, AttachToken.New()); // a second attach meanwhile is refused
        Assert.True(facts.AttachFailures.TryTake(out _, Patience), "the second attach was not refused");
        primary.Dismiss();
        Assert.True(facts.AttachFailures.TryTake(out _, Patience), "the dismissal did not fail the attach");
        // Refused, the overlapping attach; dismissed, the first: nothing more once the hung connect times out.
        Assert.False(facts.AttachFailures.TryTake(out _, TimeSpan.FromSeconds(3)), "the abandoned connect reported again");

        Protect("dismissed", primary, facts, scheduler);
        Assert.True(facts.InSync.Wait(Patience), $"the next attach never protected: {string.Join("; ", facts.Problems)}");
        primary.Deliver(1, Encoding.ASCII.GetBytes("1 INCR k"));
        Assert.True(facts.Answers.TryTake(out var answer, Patience));
        Assert.Equal("1 1", answer);
    }

    /// <summary>A listener whose accept queue is full and never served: a connect to it hangs (its SYN is dropped).</summary>
    private static HungPort HungListener()
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        for (int i = 0; i < 4; i++)
        {
            var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try { filler.Connect(IPAddress.Loopback, port); }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress) { }
            fillers.Add(filler);
        }
        Thread.Sleep(100); // the fillers' handshakes complete and fill the queue
        return new HungPort(listener, fillers, port);
    }

    private sealed class HungPort(Socket listener, List<Socket> fillers, int port) : IDisposable
    {
        public int Port => port;

        public void Dispose()
        {
            fillers.ForEach(f => f.Dispose());
            listener.Dispose();
        }
    }

    public void Dispose()
    {
        foreach (var stop in _cleanup) stop();
        foreach (var engine in _engines) engine.Dispose();
    }
}
