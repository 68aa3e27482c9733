using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Running;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Tests;

/// <summary>`vm export` through the gateway: the journal's history of a VM, replayed offline, matches the live primary.</summary>
[Collection("cluster")]
public sealed class ExportTests : Akka.TestKit.Xunit2.TestKit
{
    private static byte[] Kv => File.ReadAllBytes(RepoRoot.Guest("kv"));

    /// <summary>Builds an export at some gateway and reads it piece by piece, as the CLI does (the pieces may come through other gateways).</summary>
    private static (ExportReady Ready, byte[] Bytes) Export(InProcessCluster cluster, ExportVm request) =>
        TryExport(cluster, request, out var refusal) ?? throw new Xunit.Sdk.XunitException($"export refused: {refusal!.Message}");

    /// <summary>As <see cref="Export"/>; null when the range is refused (<paramref name="refusal"/> says why).</summary>
    private static (ExportReady Ready, byte[] Bytes)? TryExport(InProcessCluster cluster, ExportVm request, out ControlError? refusal)
    {
        var reply = cluster.Ask<object>(request, TimeSpan.FromSeconds(60));
        refusal = reply as ControlError;
        if (refusal is not null) return null;
        var ready = Assert.IsType<ExportReady>(reply);
        var bytes = new MemoryStream();
        while (bytes.Length < ready.Length)
        {
            var chunk = Assert.IsType<ExportChunk>(cluster.Ask<object>(new ReadExportChunk(request.Name, ready.Export, ready.Session, bytes.Length), TimeSpan.FromSeconds(15)));
            Assert.Equal(bytes.Length, chunk.Offset);
            Assert.NotEmpty(chunk.Data);
            bytes.Write(chunk.Data);
        }
        return (ready, bytes.ToArray());
    }

    [Fact]
    public void An_export_after_a_failover_replays_to_the_live_primarys_state_hash()
    {
        // Checkpoints every 2 s, so that the export starts from a chain of a full checkpoint and increments
        // (and a new full one, which lets the journal forget what came before, comes only every 20 s).
        using var cluster = new InProcessCluster(5610, 3, config: "lockstep.checkpoint-interval = 2s");
        Assert.IsType<ControlOk>(cluster.Ask<object>(new CreateVm("kv", Kv, 16 * 1024 * 1024), TimeSpan.FromSeconds(15)));
        var before = cluster.WaitForProtected("kv");
        using var client = new KvClient(this, cluster, 5619, "kv", 1);
        for (int id = 1; id <= 30; id++) Assert.Equal($"{id} {id}", client.Request($"{id} INCR counter"));
        cluster.Kill(cluster.IndexOf(before.Primary!));
        for (int id = 31; id <= 60; id++) Assert.Equal($"{id} {id}", client.Request($"{id} INCR counter"));
        cluster.WaitForProtected("kv", before.Generation + 1);

        // The replica check hashes the running guest: keep it busy meanwhile.
        using var busy = new KvClient(this, cluster, 5618, "kv", 2);
        var load = new Thread(() => { for (int i = 100; i < 300; i++) busy.Request($"{i} INCR busy"); });
        load.Start();
        var check = Assert.IsType<ReplicaCheck>(cluster.Ask<object>(new CheckReplicas("kv"), TimeSpan.FromSeconds(20)));
        Assert.True(check.Match);

        // The journal copy trails the live log by up to a batch: export once it reaches the checked position.
        ExportContents? export = null;
        InProcessCluster.WaitUntil(() =>
        {
            // Until the journal holds the log up to there, a range that starts beyond its end is refused as invalid.
            var exported = TryExport(cluster, new ExportVm("kv", ExportBound.AtPosition(check.Position), ExportBound.AtPosition(check.Position)), out var refusal);
            if (refusal is { Kind: ControlErrorKind.Invalid }) return false;
            if (exported is not { } got) throw new Xunit.Sdk.XunitException($"export refused: {refusal!.Message}");
            export = ExportFile.Decode(got.Bytes, "kv.export");
            return export.Info.EndPosition == check.Position;
        }, TimeSpan.FromSeconds(20), $"the journal did not reach instruction {check.Position}");

        Assert.True(load.Join(TimeSpan.FromSeconds(90)), "the busy client did not finish");
        var machine = ExportedMachine.Start(export!, out var inputs);
        Assert.True(export!.Info.StartPosition <= check.Position);
        Assert.Equal(StopReason.NeedLog, machine.RunUntilStopped(_ => { }));
        Assert.Equal(check.Position, machine.Position);
        Assert.Equal(inputs.ReceivedEntryIndex, inputs.NextEntryIndex);
        Assert.True(check.PrimaryHash == StateHash.Compute(machine),
            $"export from {export.Info.StartPosition} ({export.Increments.Count} increments): 0x{StateHash.Compute(machine):x16}, live primary 0x{check.PrimaryHash:x16} at {check.Position}");
    }

    [Fact]
    public void An_export_of_an_unknown_vm_or_of_history_the_journal_no_longer_holds_is_refused()
    {
        using var cluster = new InProcessCluster(5620, 2);
        var unknown = Assert.IsType<ControlError>(cluster.Ask<object>(new ExportVm("nope", null, null), TimeSpan.FromSeconds(30)));
        Assert.Contains("no VM 'nope'", unknown.Message);
        Assert.IsType<ControlOk>(cluster.Ask<object>(new CreateVm("kv", Kv, 16 * 1024 * 1024), TimeSpan.FromSeconds(15)));
        cluster.WaitForProtected("kv");
        using var client = new KvClient(this, cluster, 5629, "kv", 1);
        Assert.Equal("1 1", client.Request("1 INCR counter"));
        Thread.Sleep(1000);
        var (ready, bytes) = Export(cluster, new ExportVm("kv", null, null));
        var whole = ExportFile.Decode(bytes, "kv.export");
        Assert.Equal(ready.Info, whole.Info);
        Assert.True(whole.Info.EndPosition > whole.Info.StartPosition);
        var stale = Assert.IsType<ControlError>(cluster.Ask<object>(new ReadExportChunk("kv", ready.Export, ready.Session, 0), TimeSpan.FromSeconds(30)));
        Assert.Contains("no longer kept", stale.Message);
        var late = Assert.IsType<ControlError>(cluster.Ask<object>(new ExportVm("kv", ExportBound.AtPosition(whole.Info.EndPosition + 1_000_000_000_000), ExportBound.AtPosition(whole.Info.EndPosition + 1_000_000_000_001)), TimeSpan.FromSeconds(30)));
        Assert.Contains("ends at instruction", late.Message);
    }
}
