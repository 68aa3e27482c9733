using System.Collections.Concurrent;
using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Secondary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The checkpoints a running primary hands to the journal: a full one, then increments, and a
/// secondary attaching meanwhile (which restarts the live copy's dirty marks) must not cost an
/// increment any page: the chain plus the log after it gives the machine a replay of the whole log gives.
/// </summary>
public sealed class PrimaryCheckpointTests : PrimaryTestBase, ISecondaryFacts
{
    private readonly ConcurrentQueue<LogSegment> _cuts = new();
    private readonly ConcurrentQueue<(long EntryIndex, ulong Position, byte[] Snapshot, bool Full)> _checkpoints = new();
    private readonly SemaphoreSlim _protected = new(0);

    [Fact]
    public void A_primary_takes_a_full_checkpoint_then_increments_that_restore_to_the_state_of_its_log()
    {
        var settings = LockstepSettings.Default with { CheckpointInterval = TimeSpan.FromMilliseconds(100) };
        var primary = KvPrimary("chained", settings);
        primary.Start();
        using var load = new CancellationTokenSource();
        var feeder = new Thread(() =>
        {
            for (int id = 1; !load.IsCancellationRequested; id++)
            {
                primary.Deliver(3, Encoding.UTF8.GetBytes($"{id} INCR k{id % 5}"));
                Thread.Sleep(5); // light load: a heavy one writes most of kv's pages every interval, and the chain rule then starts a full checkpoint every other time
            }
        });
        feeder.Start();
        Thread.Sleep(600);
        var token = AttachToken.New();
        var secondary = new ReplayLoop("chained", MemoryMap.DefaultRamSize, Engine(settings), token, settings, this);
        primary.Attach("127.0.0.1", secondary.Start(), token);
        Assert.True(_protected.Wait(TimeSpan.FromSeconds(10)), "the secondary never acknowledged");
        Thread.Sleep(600);
        load.Cancel();
        feeder.Join();
        primary.Stop();
        secondary.Stop();
        Thread.Sleep(200);

        var checkpoints = _checkpoints.ToList();
        var cuts = _cuts.ToList();
        Assert.True(checkpoints[0].Full);
        Assert.All(checkpoints, c => Assert.Equal(c.Full, CheckpointFormat.ReadHeader(c.Snapshot).IsFull));
        var starts = Enumerable.Range(0, checkpoints.Count).Where(i => checkpoints[i].Full).Append(checkpoints.Count).ToList();
        var chains = starts.Zip(starts.Skip(1), (from, to) => checkpoints[from..to]).ToList();
        Assert.True(chains.Any(chain => chain.Count >= 3), "no chain of three or more: "
            + string.Join(", ", checkpoints.Select(c => $"{(c.Full ? "full" : "incr")}@{c.EntryIndex}:{c.Snapshot.Length / 4100}p")));
        // Only segments with entries are reported (LogCut), so the log known here ends at the last such horizon; a checkpoint
        // the idle guest took beyond it (after the feed stopped) has no log to compare a replay with, and is left out.
        ulong logEnd = cuts.Count == 0 ? 0 : cuts[^1].Horizon;
        int incrementsCompared = 0;
        foreach (var whole in chains)
        {
            var chain = whole.TakeWhile(c => c.Position <= logEnd).ToList();
            if (chain.Count == 0) continue;
            incrementsCompared += chain.Count - 1;
            var fromChain = new Machine(MemoryMap.DefaultRamSize);
            Assert.Equal(chain.Count - 1, CheckpointChain.Restore(fromChain, chain[0].Snapshot, chain.Skip(1).Select(c => c.Snapshot).ToList()));
            var fromFull = new Machine(MemoryMap.DefaultRamSize);
            MachineSnapshot.Restore(fromFull, chain[0].Snapshot);
            Assert.Equal(Replayed(fromFull, chain[0].EntryIndex, cuts), Replayed(fromChain, chain[^1].EntryIndex, cuts));
        }
        Assert.True(incrementsCompared >= 2, $"only {incrementsCompared} increments were inside the log to compare");
    }

    private static (ulong Position, ulong Hash) Replayed(Machine machine, long from, List<LogSegment> cuts)
    {
        var replay = new ReplayInputs(from, machine.Position);
        machine.SwitchInputs(replay);
        foreach (var cut in cuts.Where(c => c.FirstEntryIndex >= from)) replay.Append(cut);
        Assert.Equal(StopReason.NeedLog, machine.RunUntilStopped(_ => { }));
        return (machine.Position, StateHash.Compute(machine));
    }

    public override void LogCut(LogSegment segment, byte[] encoded) => _cuts.Enqueue(segment);
    public override void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) => _checkpoints.Enqueue((entryIndex, position, snapshot, full));
    public override void SecondaryInSync() => _protected.Release();
    void ISecondaryFacts.InSync() { }
    void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) { }
    void ISecondaryFacts.Ended(CloseReason? reason, string detail) { }
    void ISecondaryFacts.Refused(CloseReason reason, string detail) { }
    void ISecondaryFacts.HandedOver(Takeover takeover) { }
}
