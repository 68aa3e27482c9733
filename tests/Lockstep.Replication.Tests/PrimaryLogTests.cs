using System.Collections.Concurrent;
using System.Text;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Secondary;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The log a primary hands to the journal, checked without a cluster: real runtimes, a real
/// channel to real secondaries.
/// </summary>
public sealed class PrimaryLogTests : PrimaryTestBase, ISecondaryFacts
{
    private readonly ConcurrentQueue<LogSegment> _cuts = new();
    private readonly ConcurrentQueue<(long EntryIndex, byte[] Snapshot)> _checkpoints = new();
    private readonly SemaphoreSlim _protected = new(0);
    private readonly ConcurrentQueue<string> _needs = new();

    [Fact]
    public void The_journal_log_stays_contiguous_when_secondaries_attach_under_load()
    {
        // A long ship interval leaves entries uncut whenever a secondary attaches mid-stream.
        var settings = LockstepSettings.Default with { ShipInterval = TimeSpan.FromMilliseconds(200) };
        var primary = KvPrimary("logvm", settings);
        primary.Start();

        using var load = new CancellationTokenSource();
        var feeder = new Thread(() =>
        {
            for (int id = 1; !load.IsCancellationRequested; id++)
            {
                primary.Deliver((uint)(id % 7), Encoding.UTF8.GetBytes($"{id} INCR c"));
                if (id % 16 == 0) Thread.Sleep(1); // bursts keep the guest busy, so cuts wait for the ship interval
            }
        });
        feeder.Start();
        var secondaries = new List<ReplayLoop>();
        var secondaryEngine = Engine(settings); // one secondary node for all four: each attach opens a channel on the same link
        for (int round = 0; round < 4; round++)
        {
            Thread.Sleep(150);
            var token = AttachToken.New();
            var secondary = new ReplayLoop("logvm", MemoryMap.DefaultRamSize, secondaryEngine, token, settings, this);
            secondaries.Add(secondary);
            primary.Attach("127.0.0.1", secondary.Start(), token);
            Assert.True(_protected.Wait(TimeSpan.FromSeconds(10)),
                $"secondary {round} never acknowledged; the primary reported: {string.Join("; ", _needs)}");
            Thread.Sleep(150);
            primary.Dismiss();
            primary.GoAlone(); // what its executor does once it holds the next generation
        }
        load.Cancel();
        feeder.Join();
        primary.Stop();
        foreach (var secondary in secondaries) secondary.Stop();

        var cuts = _cuts.ToList();
        Assert.True(cuts.Sum(c => c.Entries.Length) > 100, $"only {cuts.Sum(c => c.Entries.Length)} entries were logged");
        for (int i = 1; i < cuts.Count; i++)
            Assert.True(cuts[i].FirstEntryIndex == cuts[i - 1].EndEntryIndex,
                $"the journal log jumps from entry #{cuts[i - 1].EndEntryIndex} to #{cuts[i].FirstEntryIndex} (cut {i} of {cuts.Count})");

        // And it replays: from the first checkpoint through every cut, without a divergence.
        var (first, snapshot) = _checkpoints.First();
        var replayed = new Machine(MemoryMap.DefaultRamSize);
        MachineSnapshot.Restore(replayed, snapshot);
        var replay = new ReplayInputs(first, replayed.Position);
        replayed.SwitchInputs(replay);
        foreach (var cut in cuts.Where(c => c.FirstEntryIndex >= first)) replay.Append(cut);
        var stop = replayed.RunUntilStopped(_ => { });
        Assert.Equal(StopReason.NeedLog, stop);
        Assert.Equal(cuts[^1].Horizon, replayed.Position);
        Assert.Equal(cuts[^1].EndEntryIndex, replay.NextEntryIndex);
    }

    public override void LogCut(LogSegment segment, byte[] encoded) => _cuts.Enqueue(segment);
    public override void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) => _checkpoints.Enqueue((entryIndex, snapshot));
    public override void SecondaryInSync() => _protected.Release();
    public override void AttachFailed(string detail) => _needs.Enqueue(detail);
    public override void SecondaryLost(CloseReason reason, string detail) => _needs.Enqueue(detail);
    void ISecondaryFacts.InSync() { }
    void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) { }
    void ISecondaryFacts.Ended(CloseReason? reason, string detail) { }
    void ISecondaryFacts.HandedOver(Takeover takeover) { }
    void ISecondaryFacts.Refused(CloseReason reason, string detail) { }
}
