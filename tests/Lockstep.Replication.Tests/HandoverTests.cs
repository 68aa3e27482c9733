using System.Collections.Concurrent;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;
using Lockstep.Replication.Secondary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// A planned switchover at the loops' level: the primary stops its guest, and once everything is acknowledged and
/// released tells the secondary to take over; the secondary's machine then runs on from exactly there, nothing to resend.
/// </summary>
public sealed class HandoverTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private static readonly LockstepSettings Settings = LockstepSettings.Default with { HeartbeatTimeout = TimeSpan.FromSeconds(10) };

    private readonly ReplicationEngine _engine = new("127.0.0.1", 0, Settings with { VmThreads = 2 });
    private readonly List<Action> _cleanup = [];

    public void Dispose()
    {
        foreach (var cleanup in _cleanup) cleanup();
        _engine.Dispose();
    }

    /// <summary>What both loops of one VM report.</summary>
    private sealed class Facts : IPrimaryFacts, ISecondaryFacts
    {
        public readonly BlockingCollection<string> Answers = new();
        public readonly ManualResetEventSlim Ready = new(false), InSync = new(false);
        public readonly BlockingCollection<(ulong Position, double PauseMs)> HandedOverAt = new();
        public readonly BlockingCollection<string> HandoverFailures = new();
        public readonly BlockingCollection<Takeover> Takeovers = new();
        public readonly BlockingCollection<CloseReason> SecondaryLosses = new();
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
        public void SecondaryLost(CloseReason reason, string detail) => SecondaryLosses.Add(reason);
        public void AttachFailed(string detail) => Problems.Enqueue($"attach failed: {detail}");
        public void Ended(VmState state, string detail) => Problems.Enqueue($"ended {state}: {detail}");
        public void LogCut(LogSegment segment, byte[] encoded) { }
        public void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) { }
        public void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
        public void HandedOver(ulong position, double pauseMs) => HandedOverAt.Add((position, pauseMs));
        public void HandoverFailed(string detail) => HandoverFailures.Add(detail);
        void ISecondaryFacts.InSync() { }
        void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) => Problems.Enqueue($"primary lost: {detail}");
        void ISecondaryFacts.HandedOver(Takeover takeover) => Takeovers.Add(takeover);
        void ISecondaryFacts.Ended(CloseReason? reason, string detail) => Problems.Enqueue($"secondary ended: {detail}");
        void ISecondaryFacts.Refused(CloseReason reason, string detail) => Problems.Enqueue($"refused: {detail}");
    }

    private (PrimaryLoop Primary, Facts Facts) StartKv(string name)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoRoot.Guest("kv")));
        var facts = new Facts();
        var primary = new PrimaryLoop(name, machine, 0, 0, Settings, _engine, facts);
        _cleanup.Add(primary.Kill);
        primary.Start();
        Assert.True(facts.Ready.Wait(Patience), $"{name} never said ready");
        return (primary, facts);
    }

    private ReplayLoop Protect(string name, PrimaryLoop primary, Facts facts)
    {
        var token = AttachToken.New();
        var secondary = new ReplayLoop(name, MemoryMap.DefaultRamSize, _engine, token, Settings, facts);
        _cleanup.Add(secondary.Stop);
        primary.Attach("127.0.0.1", secondary.Start(), token);
        Assert.True(facts.InSync.Wait(Patience), $"{name} never protected: {string.Join("; ", facts.Problems)}");
        return secondary;
    }

    private static void Incr(PrimaryLoop primary, int id) => primary.Deliver(1, Encoding.ASCII.GetBytes($"{id} INCR k"));

    private static void ExpectAnswers(Facts facts, int from, int to)
    {
        for (int id = from; id < to; id++)
        {
            Assert.True(facts.Answers.TryTake(out var answer, Patience), $"no answer to request {id} ({string.Join("; ", facts.Problems)})");
            Assert.Equal($"{id} {id}", answer);
        }
    }

    [Fact]
    public void The_secondary_takes_over_where_the_primary_stopped_with_nothing_to_resend_and_counts_on()
    {
        var (primary, facts) = StartKv("handover");
        var secondary = Protect("handover", primary, facts);
        for (int id = 1; id <= 20; id++) Incr(primary, id);
        ExpectAnswers(facts, 1, 21);

        primary.Handover();
        Assert.True(facts.HandedOverAt.TryTake(out var handedOver, Patience), $"never handed over: {string.Join("; ", facts.HandoverFailures.Concat(facts.Problems))}");
        Assert.True(facts.Takeovers.TryTake(out var takeover, Patience), $"the secondary never took the handover: {string.Join("; ", facts.Problems)}");
        Assert.Equal(handedOver.Position, takeover.Machine.Position);
        Assert.Empty(takeover.Unreleased); // every output was released before the handover: nothing is resent
        Assert.Equal(takeover.Machine.NextOutputSeq, takeover.ReleasedSeq); // and everything the machine made was released

        // The old primary runs nothing after the handover: a request sent to it now stays unanswered.
        Incr(primary, 21);
        Assert.False(facts.Answers.TryTake(out var late, TimeSpan.FromMilliseconds(500)), $"the old primary answered {late} after handing over");

        secondary.ConfirmTakeover();
        Assert.True(facts.SecondaryLosses.TryTake(out var reason, Patience), "the old primary never saw the channel end");
        Assert.Equal(CloseReason.PeerSaidGoodbye, reason);

        // The new primary, from the takeover, counts on from 20.
        var next = new Facts();
        var promoted = new PrimaryLoop("handover", takeover.Machine, takeover.NextEntryIndex, takeover.ReleasedSeq, Settings, _engine, next, takeover.Filter);
        _cleanup.Add(promoted.Kill);
        promoted.Start();
        for (int id = 21; id <= 30; id++) Incr(promoted, id);
        ExpectAnswers(next, 21, 31);
        Assert.Empty(facts.Problems);
        Assert.Empty(next.Problems);
    }

    [Fact]
    public void A_secondary_that_goes_away_after_the_handover_leaves_the_primary_to_serve_on_once_told_to_go_alone()
    {
        var (primary, facts) = StartKv("dropped");
        var secondary = Protect("dropped", primary, facts);
        for (int id = 1; id <= 5; id++) Incr(primary, id);
        ExpectAnswers(facts, 1, 6);

        primary.Handover();
        Assert.True(facts.HandedOverAt.TryTake(out _, Patience), $"never handed over: {string.Join("; ", facts.HandoverFailures)}");
        Assert.True(facts.Takeovers.TryTake(out _, Patience));
        Incr(primary, 6); // arrives while the guest is stopped
        secondary.Stop(); // as if it died before its claim: no goodbye
        Assert.True(facts.SecondaryLosses.TryTake(out var reason, Patience), "the old primary never saw the channel end");
        Assert.NotEqual(CloseReason.PeerSaidGoodbye, reason);
        Assert.False(facts.Answers.TryTake(out var early, TimeSpan.FromMilliseconds(300)), $"answered {early} before the claim");

        primary.GoAlone(); // the claim of the next generation was won
        ExpectAnswers(facts, 6, 7);
        Incr(primary, 7);
        ExpectAnswers(facts, 7, 8);
    }

    [Fact]
    public void A_handover_without_a_secondary_is_refused_and_the_guest_runs_on()
    {
        var (primary, facts) = StartKv("alone");
        primary.Handover();
        Assert.True(facts.HandoverFailures.TryTake(out var failure, Patience), "an impossible handover was not reported");
        Assert.Contains("no secondary", failure);
        Incr(primary, 1);
        ExpectAnswers(facts, 1, 2);
        Assert.Empty(facts.HandedOverAt);
    }
}
