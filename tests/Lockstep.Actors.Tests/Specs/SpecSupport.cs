using System.Collections.Concurrent;
using Akka.Cluster.Sharding;
using Akka.Configuration;
using Akka.TestKit;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Claims;
using Lockstep.Replication.Primary;
using Lockstep.Replication.Secondary;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>What the actor specs share: a cluster-provider system with in-memory persistence, a claims file, the kv guest.</summary>
public static class SpecSupport
{
    public static Config Config { get; } = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.actor.provider = cluster
        akka.actor.serializers.hyperion = "Akka.Serialization.HyperionSerializer, Akka.Serialization.Hyperion"
        akka.actor.serialization-bindings { "System.Object" = hyperion }
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """);

    /// <summary>Data-path settings that notice a silent partner quickly.</summary>
    public static LockstepSettings Settings { get; } = LockstepSettings.Default with
    {
        HeartbeatTimeout = TimeSpan.FromMilliseconds(400),
        ClaimDelayAfterSilence = TimeSpan.FromSeconds(1),
    };

    /// <summary>The replication engine of the node under test (its executors'), for the life of the test process.</summary>
    public static ReplicationEngine Engine { get; } = new("127.0.0.1", 0, Settings);

    /// <summary>The engine of the other node a spec plays itself (its own primary or secondary loops).</summary>
    public static ReplicationEngine PeerEngine { get; } = new("127.0.0.1", 0, Settings);

    public static byte[] KvImage => File.ReadAllBytes(RepoRoot.Guest("kv"));

    public static LaunchSpec Kv(string name) => new(name, KvImage, MemoryMap.DefaultRamSize);

    /// <summary>A freshly booted kv machine, as the rebuilder would launch it for generation <paramref name="generation"/>.</summary>
    public static PrimaryLaunch FreshPrimary(string name, long generation)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, KvImage);
        return new PrimaryLaunch(Kv(name), machine, generation, false, 0, 0, [], null, [], null);
    }

    /// <summary>
    /// The next message the probe gets from an executor to its coordinator: through the shard region (in an
    /// envelope) until the executor has heard from the coordinator, directly after that.
    /// </summary>
    public static T ExpectToCoordinator<T>(this TestProbe coordinator, TimeSpan? timeout = null) where T : class
    {
        var message = coordinator.ReceiveOne(timeout ?? TimeSpan.FromSeconds(15));
        Assert.NotNull(message);
        return Assert.IsType<T>(message is ShardingEnvelope envelope ? envelope.Message : message);
    }

    public static PrimaryReport ExpectReport(this TestProbe coordinator, PrimaryPhase phase, TimeSpan? timeout = null)
    {
        var report = coordinator.ExpectToCoordinator<PrimaryReport>(timeout);
        Assert.Equal(phase, report.Phase);
        return report;
    }
}

/// <summary>A claims file in a folder of its own, removed at the end.</summary>
public sealed class ClaimsFolder : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lockstep-spec-").FullName;

    public ClaimsFolder() => Claims = new SqliteClaimStore(Path.Combine(_folder, "claims.db"));

    public ClaimStore Claims { get; }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }
}

/// <summary>A replay loop's facts, for a test that plays the secondary without an actor and needs none of them.</summary>
public sealed class IgnoredSecondaryFacts : ISecondaryFacts
{
    public void InSync() { }
    public void PrimaryLost(CloseReason reason, string detail, Takeover takeover) { }
    public void Ended(CloseReason? reason, string detail) { }
    public void HandedOver(Takeover takeover) { }
    public void Refused(CloseReason reason, string detail) { }
}

/// <summary>Collects what a primary loop reports, for a test to wait on.</summary>
public sealed class RecordedPrimaryFacts : IPrimaryFacts
{
    public ManualResetEventSlim InSyncSeen { get; } = new(false);
    public BlockingCollection<(ulong Position, ulong Primary, ulong Secondary)> HashChecks { get; } = new();
    public BlockingCollection<string> Failures { get; } = new();

    public void Released(MachineOutput output) { }
    public void SecondaryInSync() => InSyncSeen.Set();
    public void SecondaryLost(CloseReason reason, string detail) => Failures.Add($"lost: {detail}");
    public void AttachFailed(string detail) => Failures.Add($"attach failed: {detail}");
    public void Ended(VmState state, string detail) => Failures.Add($"ended {state}: {detail}");
    public void LogCut(LogSegment segment, byte[] encoded) { }
    public void Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) { }
    public void HandedOver(ulong position, double pauseMs) => Failures.Add($"handed over at {position}, never asked to");
    public void HandoverFailed(string detail) => Failures.Add($"handover failed: {detail}");
    public void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) => HashChecks.Add((position, primaryHash, secondaryHash));
}
