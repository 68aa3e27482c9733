using System.Collections.Concurrent;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;
using Lockstep.Replication.Secondary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// A secondary may take over only once the primary gave it authority: before that the primary's outputs did not wait
/// for it. The primary is played by the test over real links: a snapshot, then the channel cut with or without the
/// authority frame between.
/// </summary>
public sealed class ReplayLoopAuthorityTests : ISecondaryFacts, IDisposable
{
    private readonly ReplicationEngine _engine = new("127.0.0.3", 0, LockstepSettings.Default);
    private readonly NodeLinks _primaries = new("127.0.0.2", 0, LockstepSettings.Default);
    private readonly BlockingCollection<string> _facts = new();

    [Fact]
    public void A_secondary_that_holds_the_snapshot_but_no_authority_ends_without_a_takeover_when_its_primary_goes()
    {
        var primary = Seed("unauthorized");
        primary.Channel!.Close(CloseReason.Local, "the primary's node died");
        Assert.StartsWith("ended: channel closed before the primary gave this secondary authority", NextFact());
        Assert.False(_facts.TryTake(out var more, TimeSpan.FromMilliseconds(300)), $"then: {more}");
    }

    [Fact]
    public void Given_authority_the_secondary_answers_it_is_in_sync_and_takes_over_when_its_primary_goes()
    {
        var primary = Seed("authorized");
        primary.Channel!.Send(new AuthorityFrame(4321));
        Assert.Equal(4321UL, Assert.IsType<AuthorityTakenFrame>(primary.Next()).Position);
        Assert.Equal("in sync", NextFact());
        primary.Channel.Close(CloseReason.Local, "the primary's node died");
        Assert.Equal("primary lost", NextFact());
    }

    /// <summary>A secondary started and given a snapshot of a fresh machine, acknowledged: it holds the state.</summary>
    private LinkEnd Seed(string vm)
    {
        var token = AttachToken.New();
        var loop = new ReplayLoop(vm, MemoryMap.DefaultRamSize, _engine, token, LockstepSettings.Default, this);
        loop.Start();
        var primary = new LinkEnd();
        primary.Channel = _primaries.Open(_engine.Links.Host, _engine.Links.Port, vm, token, primary.OnFrame, primary.OnClosed, TimeSpan.FromSeconds(5));
        var machine = new Machine(MemoryMap.DefaultRamSize);
        primary.Channel.Send(new SnapshotFrame(0, 0, machine.Position, MachineSnapshot.CaptureFull(machine)));
        Assert.Equal(machine.Position, Assert.IsType<AckFrame>(primary.Next()).Horizon);
        Assert.False(_facts.TryTake(out var early, TimeSpan.FromMilliseconds(300)), $"before any authority: {early}");
        return primary;
    }

    private string NextFact() => _facts.TryTake(out var fact, TimeSpan.FromSeconds(10)) ? fact : "nothing";

    void ISecondaryFacts.InSync() => _facts.Add("in sync");
    void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) => _facts.Add("primary lost");
    void ISecondaryFacts.Ended(CloseReason? reason, string detail) => _facts.Add($"ended: {detail}");
    void ISecondaryFacts.Refused(CloseReason reason, string detail) => _facts.Add($"refused: {detail}");
    void ISecondaryFacts.HandedOver(Takeover takeover) => _facts.Add("handed over");

    public void Dispose()
    {
        _engine.Dispose();
        _primaries.Dispose();
    }
}
