using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Persistence;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Vm;

/// <summary>
/// The coordinator of one VM: cluster-sharded, event-sourced, remembered. It holds the desired
/// state (image, memory, whether it should run) and places the primary; the primary finds its own
/// secondaries and fails over without it. The coordinator steps in when no primary is alive at
/// all (first start, or after the whole cluster was down) and answers for the VM meanwhile.
/// </summary>
public sealed class ProtectedVm : ReceivePersistentActor, IWithTimers
{
    private sealed record Defined(byte[] Image, uint MemorySize);
    private sealed record Stopped;
    private sealed record CheckPrimary;

    /// <summary>How long to wait for a running primary to announce itself before starting one.</summary>
    private static readonly TimeSpan AnnounceGrace = TimeSpan.FromSeconds(3);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _name;
    private readonly ClaimStore _claims;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private Defined? _definition;
    private bool _stopped;
    private PrimaryAnnounce? _primary;
    private DateTime _placedAt = DateTime.MinValue;
    private DateTime _lastAnnounce = DateTime.MinValue;

    /// <summary>Primaries announce themselves every second; this much silence makes the coordinator look closer.</summary>
    private static readonly TimeSpan SilentPrimary = TimeSpan.FromSeconds(5);

    public ProtectedVm(string name, ClaimStore claims)
    {
        _name = name;
        _claims = claims;
        Recover<Defined>(d => { _definition = d; _stopped = false; });
        Recover<Stopped>(_ => _stopped = true);

        Command<CreateVm>(create =>
        {
            if (_definition is not null && !_stopped)
            {
                Sender.Tell(new ControlError($"a VM named '{_name}' already exists"));
                return;
            }
            var sender = Sender;
            Persist(new Defined(create.Image, create.MemorySize), d =>
            {
                _definition = d;
                _stopped = false;
                _primary = null;
                PlacePrimary("created");
                sender.Tell(new ControlOk($"VM '{_name}' created"));
            });
        });
        Command<StopVm>(_ =>
        {
            var sender = Sender;
            Persist(new Stopped(), _ =>
            {
                _stopped = true;
                _primary = null;
                sender.Tell(new ControlOk($"VM '{_name}' stopped"));
            });
        });
        Command<PrimaryAnnounce>(a =>
        {
            if (a.Name != _name || (_primary is not null && a.Generation < _primary.Generation)) return;
            _primary = a;
            _lastAnnounce = DateTime.UtcNow;
        });
        Command<VmRemoved>(r => { if (r.Name == _name) _primary = null; });
        Command<SubscribeAck>(_ => { });
        Command<CheckPrimary>(_ =>
        {
            if (_definition is null || _stopped) return;
            if (_primary is not null && DateTime.UtcNow - _lastAnnounce < SilentPrimary) return;
            if (DateTime.UtcNow - _placedAt < TimeSpan.FromSeconds(10)) return; // a placed primary may still be booting
            // Only when the holder of the newest generation is no longer a member can nobody be live:
            // a primary we merely do not hear from may still serve its clients.
            if (HolderStillMember()) return;
            _primary = null;
            PlacePrimary("no live primary, and the newest generation's holder has left the cluster");
        });
        Command<GetVmStatus>(_ => Sender.Tell(Answer()));
        Command<SendPacket>(_ => Sender.Tell(NoPrimary()));
        Command<TestFailover>(_ => Sender.Tell(NoPrimary()));
        Command<RestartSecondary>(_ => Sender.Tell(NoPrimary()));
        Command<CheckReplicas>(_ => Sender.Tell(NoPrimary()));
    }

    public override string PersistenceId => $"vm-{_name}";
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string name, ClaimStore claims) => Akka.Actor.Props.Create(() => new ProtectedVm(name, claims));

    protected override void PreStart()
    {
        base.PreStart();
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(Topics.Primaries, Self));
        Timers.StartPeriodicTimer("check-primary", new CheckPrimary(), AnnounceGrace, TimeSpan.FromSeconds(5));
    }

    private void PlacePrimary(string reason)
    {
        if (_definition is null) return;
        long generation = _claims.HighestGeneration(_name) + 1;
        var node = NodePicker.Pick(_cluster, [], _name.GetHashCode() + (int)generation);
        if (node is null)
        {
            _log.Warning("{0}: no node to place the primary on", _name);
            return;
        }
        _log.Info("{0}: starting the primary on {1} as generation {2} ({3})", _name, NodePicker.Describe(node), generation, reason);
        _placedAt = DateTime.UtcNow;
        NodePicker.ExecutorsAt(Context.System, node).Tell(new StartPrimary(_name, _definition.Image, _definition.MemorySize, generation, []));
    }

    /// <summary>True while the node that claimed the newest generation is still in the cluster (Up or not yet removed).</summary>
    private bool HolderStillMember()
    {
        long generation = _claims.HighestGeneration(_name);
        if (generation == 0) return false;
        string? owner = _claims.OwnerOf(_name, generation);
        return owner is not null && NodePicker.IsMember(_cluster, owner);
    }

    private object Answer()
    {
        if (_definition is null) return new ControlError($"unknown VM '{_name}'");
        if (_stopped) return new ControlError($"VM '{_name}' is stopped");
        return new VmStatus(_name, "Starting", _primary?.Generation ?? _claims.HighestGeneration(_name), _primary?.Node, null,
            0, 0, 0, 0, [], "waiting for the primary to come up");
    }

    private object NoPrimary() => _definition is null || _stopped
        ? new ControlError($"unknown VM '{_name}'")
        : new ControlError($"VM '{_name}' has no live primary at the moment; try again");
}
