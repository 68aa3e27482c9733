using System.Net;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.FrontDoor;

/// <summary>
/// /user/front-door on every node: opens and closes this node's listeners (one <see cref="ExposedPort"/>
/// per VM and port, on the node's own host address) as the coordinators announce the VMs' exposure,
/// and reports their state back to each VM's coordinator, where `vm expose NAME` shows it.
/// It never closes a listener because announcements went quiet (a coordinator being re-created
/// elsewhere is silent for seconds): only an announcement without the port closes it.
/// </summary>
public sealed class FrontDoor : ReceiveActor
{
    /// <summary>A child's listener opened, or failed to.</summary>
    public sealed record ListenerChanged(string Vm, ListenerState State);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _gateway;
    private readonly IActorRef _vmRegion;
    private readonly FrontDoorSettings _settings;
    private readonly IPAddress _host;
    private readonly string _node;
    private readonly long _incarnation = DateTime.UtcNow.Ticks;
    private readonly Dictionary<(string Vm, int Port), IActorRef> _ports = [];
    private readonly Dictionary<(string Vm, int Port), ListenerState> _states = [];
    private long _children;

    public FrontDoor(IActorRef gateway, IActorRef vmRegion, FrontDoorSettings settings)
    {
        _gateway = gateway;
        _vmRegion = vmRegion;
        _settings = settings;
        var self = Cluster.Get(Context.System).SelfAddress;
        _node = NodePicker.Describe(self);
        _host = ResolveHost(self.Host!);

        Receive<ExposureAnnounce>(OnAnnounce);
        Receive<ListenerChanged>(changed =>
        {
            var key = (changed.Vm, changed.State.Port);
            if (!_ports.ContainsKey(key)) return; // closed meanwhile
            _states[key] = changed.State;
            Report(changed.Vm);
        });
        // A primary's announcement, pushed straight here (FrontDoorPush) or published: to this VM's ports only. The ports do not
        // subscribe themselves: with a port per VM, each of a node's worth of takeovers reached every port of every node
        // (334 announcements x 1,000 ports a node in bench/scale.sh 1000), and the datagrams behind them waited.
        // The node's gateway gets it too: its own subscription misses what was published before the mediators' registry
        // reached the publishing node (a primary that went live within a second of the cluster forming), and `vm list`
        // without the directory names only the VMs the gateway has heard of.
        Receive<PrimaryAnnounce>(announce =>
        {
            foreach (var (key, port) in _ports)
                if (key.Vm == announce.Name) port.Forward(announce);
            _gateway.Forward(announce);
        });
        Receive<VmRemoved>(_ => { }); // the VM's ports close on its exposure's announcement
        Receive<SubscribeAck>(_ => { });
    }

    public static Props Props(IActorRef gateway, IActorRef vmRegion, FrontDoorSettings settings) =>
        Akka.Actor.Props.Create(() => new FrontDoor(gateway, vmRegion, settings));

    protected override void PreStart()
    {
        var mediator = DistributedPubSub.Get(Context.System).Mediator;
        mediator.Tell(new Subscribe(ExposureTopics.Exposure, Self));
        mediator.Tell(new Subscribe(Topics.Primaries, Self));
    }

    private void OnAnnounce(ExposureAnnounce announce)
    {
        var wanted = announce.Ports.ToHashSet();
        // Most VMs are not exposed: a node with nothing open for one has nothing to report.
        if (wanted.Count == 0 && !_ports.Keys.Any(k => k.Vm == announce.Name)) return;
        foreach (var key in _ports.Keys.Where(k => k.Vm == announce.Name && !wanted.Contains(k.Port)).ToList())
        {
            _log.Info("front door: closing port {0} of {1}", key.Port, key.Vm);
            Context.Stop(_ports[key]);
            _ports.Remove(key);
            _states.Remove(key);
        }
        foreach (int port in wanted)
        {
            var key = (announce.Name, port);
            if (_ports.ContainsKey(key)) continue;
            _ports[key] = Context.ActorOf(
                FrontDoorSettings.OnOwnThreads(ExposedPort.Props(announce.Name, port, _host, _settings, _gateway, _incarnation), Context.System),
                $"{announce.Name}-{port}-{++_children}");
            _states[key] = new ListenerState(_node, _host.ToString(), port, false, "opening");
        }
        // Every announcement is answered, so a coordinator re-created elsewhere learns the listeners again.
        Report(announce.Name);
    }

    private void Report(string vm)
    {
        var states = _states.Where(kv => kv.Key.Vm == vm).Select(kv => kv.Value).OrderBy(s => s.Port).ToList();
        _vmRegion.Tell(new ShardingEnvelope(vm, new ListenerReport(vm, _node, states)));
    }

    private static IPAddress ResolveHost(string host) =>
        IPAddress.TryParse(host, out var address) ? address : Dns.GetHostAddresses(host).First();
}
