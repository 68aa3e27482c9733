using System.Collections.Concurrent;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Engine.Cpu;

namespace Lockstep.Replication.Tests;

/// <summary>
/// When a primary may call itself Protected: only once its secondary holds the snapshot and has taken the authority
/// to take over. The secondary here is played by the test over a real channel, so it can send what a real one
/// could send before it has restored the snapshot.
/// </summary>
public sealed class PrimaryAttachTests : PrimaryTestBase
{
    private readonly SemaphoreSlim _released = new(0);
    private readonly BlockingCollection<CloseReason> _lost = new();
    private int _protectedEvents;

    [Fact]
    public void Only_the_answer_to_the_authority_given_after_an_ack_covering_the_snapshot_makes_the_primary_protected()
    {
        // Not about silence: a long timeout, so a stall of the whole test process (the fake secondary's heartbeats
        // are in it too) cannot end the link as Silent before the goodbye (seen once at load average 30).
        var primary = KvPrimary("attachvm", LockstepSettings.Default with { HeartbeatTimeout = TimeSpan.FromSeconds(10) });
        primary.Start();
        Assert.True(_released.Wait(TimeSpan.FromSeconds(10)), "the guest printed nothing"); // it has run: the snapshot is past position 0

        // A secondary that acknowledges nothing it holds: horizon 0, as one that has not restored the snapshot yet.
        using (var early = FakeSecondary.Attach(primary))
        {
            ulong snapshotAt = early.SnapshotPosition();
            Assert.True(snapshotAt > 0);
            for (int i = 0; i < 5; i++) early.Ack(0);
            early.SayGoodbye(); // read after the acks: once the primary has let it go, every ack was seen
            Assert.Equal(CloseReason.PeerSaidGoodbye, NextLoss());
            Assert.Equal(0, Volatile.Read(ref _protectedEvents));
        }
        primary.GoAlone(); // what its executor does once it holds the next generation

        // A real attach: the ack covering the snapshot brings the authority, whose answer makes it protected, once.
        using var good = FakeSecondary.Attach(primary);
        ulong snapshot = good.SnapshotPosition();
        Assert.Null(good.AuthorityAt);
        good.Ack(snapshot);
        ulong authority = good.AwaitAuthority();
        Assert.True(authority >= snapshot);
        Assert.False(SpinWait.SpinUntil(() => Volatile.Read(ref _protectedEvents) > 0, TimeSpan.FromMilliseconds(200)), "protected before the authority was taken");
        good.TakeAuthority(authority - 1); // not the position given
        good.TakeAuthority(authority);
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref _protectedEvents) == 1, TimeSpan.FromSeconds(10)), "never protected");
        good.TakeAuthority(authority);
        Assert.False(SpinWait.SpinUntil(() => Volatile.Read(ref _protectedEvents) > 1, TimeSpan.FromMilliseconds(200)), "protected twice");

        primary.Stop();
    }

    private CloseReason NextLoss() => _lost.Take(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);

    public override void Released(MachineOutput output) => _released.Release();
    public override void SecondaryLost(CloseReason reason, string detail) => _lost.Add(reason);
    public override void SecondaryInSync() => Interlocked.Increment(ref _protectedEvents);
}
