using System.Text;
using Lockstep.Replication;
using Lockstep.Engine.Cpu;

namespace Lockstep.Replication.Tests;

/// <summary>How many segments a busy primary sends: each costs a send and an ack, on both hosts.</summary>
public sealed class PrimaryBatchingTests : PrimaryTestBase
{
    private readonly ManualResetEventSlim _protected = new(false), _ready = new(false), _held = new(false), _release = new(false);
    private volatile bool _holdInCheckpoint;

    /// <summary>
    /// Requests queued while the VM thread is held (inside a checkpoint callback) keep the guest busy
    /// until all are answered, so only the count of outputs sends a segment (timed sends are off).
    /// The secondary acknowledges the snapshot and nothing after it, so every answer stays held: a
    /// primary that counted held outputs rather than outputs since the last segment sent one segment
    /// per answer once 32 were held.
    /// </summary>
    [Fact]
    public void Outputs_waiting_for_their_ack_do_not_send_a_segment_per_new_output()
    {
        const int requests = 320;
        var settings = LockstepSettings.Default with { ShipInterval = TimeSpan.FromMinutes(1), HeartbeatTimeout = TimeSpan.FromMinutes(1) };
        var primary = KvPrimary("batchvm", settings);
        primary.Start();
        Assert.True(_ready.Wait(TimeSpan.FromSeconds(10)), "the guest printed nothing");
        using var secondary = FakeSecondary.Attach(primary);
        secondary.Protect();
        Assert.True(_protected.Wait(TimeSpan.FromSeconds(10)), "never protected");
        ulong answeredBefore = primary.Stats().Outputs;

        _holdInCheckpoint = true;
        primary.RequestCheckpoint();
        Assert.True(_held.Wait(TimeSpan.FromSeconds(10)), "the VM thread never took the checkpoint");
        for (int id = 1; id <= requests; id++) primary.Deliver(1, Encoding.ASCII.GetBytes($"{id} INCR n"));
        int before = secondary.Segments;
        _release.Set();

        Assert.True(SpinWait.SpinUntil(() => primary.Stats().Outputs >= answeredBefore + requests, TimeSpan.FromSeconds(20)),
            $"only {primary.Stats().Outputs - answeredBefore} answers");
        Assert.True(SpinWait.SpinUntil(() => secondary.Segments - before >= requests / 32, TimeSpan.FromSeconds(10)),
            $"only {secondary.Segments - before} segments");
        Thread.Sleep(200); // any segment still on its way
        Assert.InRange(secondary.Segments - before, requests / 32, requests / 8);
        primary.Stop();
    }

    public override void SecondaryInSync() => _protected.Set();
    public override void Released(MachineOutput output) => _ready.Set();
    public override void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full)
    {
        if (!_holdInCheckpoint) return; // called on the VM thread: holding here holds the VM
        _held.Set();
        _release.Wait(TimeSpan.FromSeconds(30));
    }
}
