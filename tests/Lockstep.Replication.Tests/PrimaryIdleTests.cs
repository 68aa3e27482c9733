using System.Text;
using Lockstep.Engine.Cpu;

namespace Lockstep.Replication.Tests;

/// <summary>
/// An idle protected primary sends nothing on its channel (liveness is the link's heartbeats), but the
/// secondary still learns within a heartbeat interval which outputs were released.
/// </summary>
public sealed class PrimaryIdleTests : PrimaryTestBase
{
    private readonly SemaphoreSlim _released = new(0);
    private readonly SemaphoreSlim _protected = new(0);
    private long _lastReleasedSeq = -1;

    [Fact]
    public void An_idle_protected_primary_sends_no_segments_and_tells_the_secondary_of_a_release_once()
    {
        // Not about silence: a long timeout, so a stall of the whole test process (the fake secondary's heartbeats
        // are in it too) cannot end the link under a loaded machine.
        var primary = KvPrimary("idlevm", LockstepSettings.Default with { HeartbeatTimeout = TimeSpan.FromSeconds(10) });
        primary.Start();
        Assert.True(_released.Wait(TimeSpan.FromSeconds(10)), "the guest printed nothing");
        using var secondary = FakeSecondary.Attach(primary);
        secondary.Protect();
        Assert.True(_protected.Wait(TimeSpan.FromSeconds(10)), "never protected");

        Thread.Sleep(300); // whatever the boot left settles
        while (_released.Wait(0)) { } // the boot's own outputs
        int before = secondary.Segments;
        Thread.Sleep(1000);
        Assert.Equal(before, secondary.Segments); // per-VM heartbeats were an empty segment every 50 ms: 20 here

        primary.Deliver(1, Encoding.ASCII.GetBytes("1 INCR n"));
        Assert.True(SpinWait.SpinUntil(() => secondary.Segments > before, TimeSpan.FromSeconds(5)), "the request's segment never came");
        secondary.Ack(secondary.LastHorizon);
        Assert.True(_released.Wait(TimeSpan.FromSeconds(5)), "the answer was not released by the ack");
        ulong released = (ulong)Interlocked.Read(ref _lastReleasedSeq) + 1;
        Assert.True(SpinWait.SpinUntil(() => secondary.ReleasedSeq >= released, TimeSpan.FromSeconds(2)),
            $"the secondary still thinks output #{secondary.ReleasedSeq} is the first unreleased, not #{released}");
        int told = secondary.Segments;
        Thread.Sleep(500);
        Assert.Equal(told, secondary.Segments); // told once, then quiet again
        primary.Stop();
    }

    public override void Released(MachineOutput output)
    {
        Interlocked.Exchange(ref _lastReleasedSeq, (long)output.Seq);
        _released.Release();
    }

    public override void SecondaryInSync() => _protected.Release();
}
