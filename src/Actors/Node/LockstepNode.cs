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
        if (system.Settings.Config.GetBoolean("lockstep.serializer-warmup", true)) WarmSerializersAside(system);
        var sharding = ClusterSharding.Get(system);
        var shardingSettings = ClusterShardingSettings.Create(system);
        var vmRegion = sharding.Start("vm", name => ProtectedVm.Props(name, claims), shardingSettings, new VmMessageExtractor());
        var engine = StartEngine(system, settings);
        var executors = system.ActorOf(ExecutorHost.Props(claims, settings, engine, vmRegion), "executors");
        system.ActorOf(NodeLoadListener.Props(), "node-load");
        var directoryRegion = sharding.Start("vm-directory", _ => VmDirectory.Props(vmRegion), shardingSettings, new VmMessageExtractor());
        var gateway = system.ActorOf(Gateway.Gateway.Props(vmRegion, directoryRegion), "gateway");
        ClusterClientReceptionist.Get(system).RegisterService(gateway);
        system.ActorOf(FrontDoorSettings.OnOwnThreads(FrontDoor.FrontDoor.Props(gateway, vmRegion, FrontDoorSettings.From(system.Settings.Config)), system), "front-door");
        return new NodeHandles(system, gateway, executors, vmRegion, claims, engine);
    }

    /// <summary>
    /// Builds the serializers of the protocol messages (<see cref="SerializerWarmup"/>), compiles the links' end path
    /// (<see cref="Replication.Links.NodeLink.WarmEndPath"/>) and formats a first exception (<see cref="ExceptionTextWarmup"/>), on a thread of its own: it takes
    /// seconds of CPU, and the node joins and takes work meanwhile (a message sent before its type is built builds it,
    /// as without the warm-up).
    /// </summary>
    private static void WarmSerializersAside(ActorSystem system)
    {
        var log = Logging.GetLogger(system, "lockstep-node");
        new Thread(() =>
        {
            try
            {
                Replication.Links.NodeLink.WarmEndPath();
                ExceptionTextWarmup.Run();
                var warmup = SerializerWarmup.Run(system);
                log.Info("serializers built for {0} protocol messages in {1:F0} ms ({2} left to their first use)", warmup.Warmed.Count, warmup.Took.TotalMilliseconds, warmup.Skipped.Count);
                foreach (var (type, why) in warmup.Skipped) log.Warning("serializer for {0} not built ahead: {1}", type.Name, why);
            }
            catch (Exception e)
            {
                // Only a head start is lost; nothing may escape this thread (it would end the node).
                log.Warning("building the serializers ahead failed: {0}", e.Message);
            }
        }) { IsBackground = true, Name = "serializer-warmup" }.Start();
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

    /// <summary>What a `lockstep node` process creates its actor system from: the configuration (node.conf from the
    /// hocon folder with the flags on top), the setups (journal connections, TLS transport) and the claim store.</summary>
    public static NodeBootstrap Prepare(NodeOptions options)
    {
        var journal = JournalLocation.Parse(options.Journal);
        if (journal.Kind == JournalKind.Sqlite) Directory.CreateDirectory(Path.GetDirectoryName(journal.Target)!);
        var claims = ClaimStore.ForJournal(journal);
        Config config = NodeConfig.Build(options, journal);
        var setups = new List<Setup>();
        if (JournalConnections.For(journal) is { } connections) setups.Add(connections);
        if (options.Tls is not null) setups.Add(options.Tls.Setup());
        return new NodeBootstrap(config, setups, claims, options.Tls?.Links);
    }

    /// <summary>Why a node's actor system ended without being asked to: false when the cluster downed it.</summary>
    /// <returns>True when it ended for another reason (Akka's own shutdown hook on the stop signal).</returns>
    /// <exception cref="Security.TlsConfigurationException">It ended because its own outbound TLS handshake failed.</exception>
    public static bool EndedOnItsOwn(ActorSystem system)
    {
        var reason = CoordinatedShutdown.Get(system).ShutdownReason;
        // Akka.Remote ends a system whose own outbound TLS handshake failed: we dialled a peer that does not
        // trust our certificate, or whose certificate we do not trust. Exiting quietly would hide that.
        if (reason?.ExitCode == TlsHandshakeFailureExitCode)
            throw new Security.TlsConfigurationException(
                "a TLS handshake with a peer failed (the log above names it): this node's certificate and the cluster's must be issued by the same CA");
        return reason is not CoordinatedShutdown.ClusterDowningReason;
    }
}
