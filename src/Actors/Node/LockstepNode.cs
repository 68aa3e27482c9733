using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Client;
using Akka.Configuration;
using Akka.Event;
using Lockstep.Actors.Executors;
using Lockstep.Actors.FrontDoor;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Vm;
using Lockstep.Replication.Claims;
using Lockstep.Replication;

namespace Lockstep.Actors.Node;

/// <summary>Everything a node runs: executor host, gateway, front door, and the sharded coordinators.</summary>
public sealed record NodeHandles(ActorSystem System, IActorRef Gateway, IActorRef Executors, IActorRef VmRegion, ClaimStore Claims, ReplicationEngine Engine);

public static class LockstepNode
{
    // The exit code of Akka.Remote's own (internal) TlsHandshakeFailureReason, the one way to recognise it.
    private const int TlsHandshakeFailureExitCode = 79;

    /// <summary>Starts the node's actors in an already created actor system (tests create several in one process).</summary>
    /// <param name="linkTls">When set, the node's lockstep links run over mutual TLS with this identity and CA pin.</param>
    public static NodeHandles Start(ActorSystem system, ClaimStore claims, Replication.Links.LinkTls? linkTls = null)
    {
        var settings = LockstepSettingsConfig.From(system.Settings.Config) with { Tls = linkTls };
        var sharding = ClusterSharding.Get(system);
        var shardingSettings = ClusterShardingSettings.Create(system);
        var vmRegion = sharding.Start("vm", name => ProtectedVm.Props(name, claims), shardingSettings, new VmMessageExtractor());
        var engine = StartEngine(system, settings);
        var executors = system.ActorOf(ExecutorHost.Props(claims, settings, engine, vmRegion), "executors");
        system.ActorOf(NodeLoadListener.Props(), "node-load");
        var directoryRegion = sharding.Start("vm-directory", _ => VmDirectory.Props(vmRegion), shardingSettings, new VmMessageExtractor());
        var gateway = system.ActorOf(Gateway.Gateway.Props(vmRegion, directoryRegion), "gateway");
        ClusterClientReceptionist.Get(system).RegisterService(gateway);
        system.ActorOf(FrontDoor.FrontDoor.Props(gateway, vmRegion, FrontDoorSettings.From(system.Settings.Config)), "front-door");
        return new NodeHandles(system, gateway, executors, vmRegion, claims, engine);
    }

    /// <summary>
    /// The node's replication engine: its VM threads (`lockstep.vm-threads`) and its one listener for
    /// lockstep links (`lockstep.link-port`, 0: any free port) on its cluster host address. Disposed once
    /// the actor system has ended, after the actors: the executors' last stop and kill commands (posted in
    /// their PostStop) still run on the VM threads first.
    /// </summary>
    private static ReplicationEngine StartEngine(ActorSystem system, Replication.LockstepSettings settings)
    {
        string host = Akka.Cluster.Cluster.Get(system).SelfAddress.Host ?? "127.0.0.1";
        var engine = new ReplicationEngine(host, system.Settings.Config.GetInt("lockstep.link-port", 0), settings);
        var log = Akka.Event.Logging.GetLogger(system, "lockstep-links");
        engine.Links.Logged += message => log.Info("{0}", message);
        system.RegisterOnTermination(engine.Dispose);
        return engine;
    }

    /// <summary>Runs a node until <paramref name="stop"/> fires, then leaves the cluster gracefully.</summary>
    /// <param name="alongside">Started once the node's actors are, stopped (disposed) when the node ends: the web dashboard.</param>
    /// <returns>False when the cluster removed this node (downed by the split-brain resolver): the process should end.</returns>
    public static async Task<bool> RunAsync(NodeOptions options, CancellationToken stop, Func<NodeHandles, Task<IAsyncDisposable?>>? alongside = null)
    {
        var journal = JournalLocation.Parse(options.Journal);
        if (journal.Kind == JournalKind.Sqlite) Directory.CreateDirectory(Path.GetDirectoryName(journal.Target)!);
        var claims = ClaimStore.ForJournal(journal);
        Config config = NodeConfig.Build(options, journal);
        ActorSystemSetup setup = ActorSystemSetup.Create(BootstrapSetup.Create().WithConfig(config));
        if (JournalConnections.For(journal) is { } connections) setup = setup.And(connections);
        if (options.Tls is not null) setup = setup.And(options.Tls.Setup());
        var system = ActorSystem.Create("lockstep", setup);
        var handles = Start(system, claims, options.Tls?.Links);
        await using var companion = alongside is null ? null : await alongside(handles);
        // A node downed by the split-brain resolver terminates its actor system (and so its executors):
        // the process must not linger as a zombie member.
        var signal = Task.Delay(Timeout.Infinite, stop);
        var ended = await Task.WhenAny(signal, system.WhenTerminated);
        // Akka's own shutdown hook may end the system on the same signal before we see it: only downing counts as removed.
        if (ended == system.WhenTerminated)
        {
            var reason = CoordinatedShutdown.Get(system).ShutdownReason;
            // Akka.Remote ends a system whose own outbound TLS handshake failed: we dialled a peer that does not
            // trust our certificate, or whose certificate we do not trust. Exiting quietly would hide that.
            if (reason?.ExitCode == TlsHandshakeFailureExitCode)
                throw new Security.TlsConfigurationException(
                    "a TLS handshake with a peer failed (the log above names it): this node's certificate and the cluster's must be issued by the same CA");
            return reason is not CoordinatedShutdown.ClusterDowningReason;
        }
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        return true;
    }
}
