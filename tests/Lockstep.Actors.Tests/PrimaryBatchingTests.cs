using System.Text;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;

namespace Lockstep.Actors.Tests;

/// <summary>How many segments a busy primary sends: each costs a send and an ack, on both hosts.</summary>
public sealed class PrimaryBatchingTests : IPrimaryEvents, IDisposable
{
    private readonly string _storage = Directory.CreateTempSubdirectory("lockstep-batch-").FullName;
    private readonly ManualResetEventSlim _protected = new(false);

    /// <summary>
    /// Requests queued before the guest runs keep it busy until all are answered, so only the count
    /// of outputs sends a segment (timed sends are off). The secondary acknowledges the snapshot and
    /// nothing after it, so every answer stays held: a primary that counted held outputs rather than
    /// outputs since the last segment sent one segment per answer once 32 were held.
    /// </summary>
    [Fact]
    public void Outputs_waiting_for_their_ack_do_not_send_a_segment_per_new_output()
    {
        const int requests = 320;
        var settings = LockstepSettings.Default with { ShipInterval = TimeSpan.FromMinutes(1), HeartbeatTimeout = TimeSpan.FromMinutes(1) };
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoPaths.Guest("kv")));
        var primary = new PrimaryRuntime("batchvm", machine, 1, false, 0, 0, settings,
            new SqliteClaimStore(Path.Combine(_storage, "claims.db")), "primary", this);
        using var secondary = FakeSecondary.Attach(primary, () =>
        {
            for (int id = 1; id <= requests; id++) primary.Deliver(1, Encoding.ASCII.GetBytes($"{id} INCR n"));
            primary.Start();
        });
        secondary.Ack(secondary.SnapshotPosition());
        Assert.True(_protected.Wait(TimeSpan.FromSeconds(10)), "never protected");

        // Every request answered (the console's ready line is an output too), every answer held.
        Assert.True(SpinWait.SpinUntil(() => primary.Stats().Outputs >= requests + 1, TimeSpan.FromSeconds(20)),
            $"only {primary.Stats().Outputs} outputs");
        Assert.True(SpinWait.SpinUntil(() => secondary.Segments >= requests / 32, TimeSpan.FromSeconds(10)), $"only {secondary.Segments} segments");
        Thread.Sleep(200); // any segment still on its way
        Assert.InRange(secondary.Segments, requests / 32, requests / 8);
        primary.Stop();
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_storage, recursive: true); } catch (IOException) { }
    }

    void IPrimaryEvents.Protected() => _protected.Set();
    void IPrimaryEvents.Released(MachineOutput output) { }
    void IPrimaryEvents.NeedSecondary(string reason, bool afterLoss) { }
    void IPrimaryEvents.LostClaim(long generation) { }
    void IPrimaryEvents.Ended(string state, string detail) { }
    void IPrimaryEvents.LogCut(LogSegment segment, byte[] encoded) { }
    void IPrimaryEvents.Checkpoint(long entryIndex, ulong position, byte[] snapshot) { }
    void IPrimaryEvents.HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
}
