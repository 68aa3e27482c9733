using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Client;
using Akka.Configuration;
using Lockstep.Actors.Executors;
using Lockstep.Actors.FrontDoor;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Vm;
using Lockstep.Replication.Claims;

namespace Lockstep.Actors.Node;

/// <summary>Everything a node runs: executor host, gateway, front door, and the sharded coordinators.</summary>
public sealed record NodeHandles(ActorSystem System, IActorRef Gateway, IActorRef Executors, IActorRef VmRegion, ClaimStore Claims);

public static class LockstepNode
{
    /// <summary>Starts the node's actors in an already created actor system (tests create several in one process).</summary>
    public static NodeHandles Start(ActorSystem system, ClaimStore claims)
    {
        var settings = LockstepSettingsConfig.From(system.Settings.Config);
        var sharding = ClusterSharding.Get(system);
        var shardingSettings = ClusterShardingSettings.Create(system);
        var vmRegion = sharding.Start("vm", name => ProtectedVm.Props(name, claims), shardingSettings, new VmMessageExtractor());
        var executors = system.ActorOf(ExecutorHost.Props(claims, settings, vmRegion), "executors");
        system.ActorOf(NodeLoadListener.Props(), "node-load");
        var directoryRegion = sharding.Start("vm-directory", _ => VmDirectory.Props(vmRegion), shardingSettings, new VmMessageExtractor());
        var gateway = system.ActorOf(Gateway.Gateway.Props(vmRegion, directoryRegion), "gateway");
        ClusterClientReceptionist.Get(system).RegisterService(gateway);
        system.ActorOf(FrontDoor.FrontDoor.Props(gateway, vmRegion, FrontDoorSettings.From(system.Settings.Config)), "front-door");
        return new NodeHandles(system, gateway, executors, vmRegion, claims);
    }

    /// <summary>Runs a node until <paramref name="stop"/> fires, then leaves the cluster gracefully.</summary>
    /// <returns>False when the cluster removed this node (downed by the split-brain resolver): the process should end.</returns>
    public static async Task<bool> RunAsync(NodeOptions options, CancellationToken stop)
    {
        var journal = JournalLocation.Parse(options.Journal);
        if (journal.Kind == JournalKind.Sqlite) Directory.CreateDirectory(Path.GetDirectoryName(journal.Target)!);
        var claims = ClaimStore.ForJournal(journal); // for SQLite also switches the shared file to WAL before the journal opens it
        Config config = NodeConfig.Build(options, journal);
        var system = ActorSystem.Create("lockstep", config);
        Start(system, claims);
        // A node downed by the split-brain resolver terminates its actor system (and so its executors):
        // the process must not linger as a zombie member.
        var signal = Task.Delay(Timeout.Infinite, stop);
        var ended = await Task.WhenAny(signal, system.WhenTerminated);
        // Akka's own shutdown hook may end the system on the same signal before we see it: only downing counts as removed.
        if (ended == system.WhenTerminated) return CoordinatedShutdown.Get(system).ShutdownReason is not CoordinatedShutdown.ClusterDowningReason;
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        return true;
    }
}
