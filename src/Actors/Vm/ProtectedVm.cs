using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Akka.Persistence;
using Lockstep.Actors.FrontDoor;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;
using Lockstep.Replication;
using Lockstep.Replication.Claims;

namespace Lockstep.Actors.Vm;

/// <summary>
/// The coordinator of one VM, and the supervisor of its two sides: cluster-sharded, event-sourced,
/// remembered. It places the primary and the secondary on different nodes, watches both
/// (DeathWatch), and places again what dies. The sides run under each node's executor host, not
/// under this actor, so losing this actor's node costs nothing but this actor: sharding re-creates
/// it elsewhere and it finds them again (Locating). The data path never waits for it: a secondary
/// takes over on its own claim, and gateways route by the primaries' announcements.
/// Phases (Become): Undefined → Locating / PlacingPrimary → Running → (primary lost) Orphaned → …; Stopped.
/// It never blocks: claims storage is read asynchronously and the answers come back as messages.
/// </summary>
public sealed class ProtectedVm : ReceivePersistentActor, IWithTimers
{
    /// <summary>Internal, not private: an export reads the image from here (<see cref="Executors.VmJournalReader"/>).</summary>
    internal sealed record Defined(byte[] Image, uint MemorySize);
    private sealed record Stopped;
    /// <summary>The operator changed the protection; <paramref name="ResumeOn"/>: where the secondary was when it was suspended.</summary>
    private sealed record ProtectionSet(ProtectionMode Mode, string? ResumeOn);
    /// <summary>Every node listens on Port for this VM (with or after <see cref="Defined"/>).</summary>
    private sealed record Exposed(int Port);
    /// <summary>The VM defined just before is durable (an event of its own, so journals written before it existed still read).</summary>
    private sealed record MadeDurable;

    private sealed record NewestClaim(long Generation, string? Owner);
    private sealed record LocateTimeout;
    private sealed record PrimaryStartTimeout(long Generation);
    private sealed record OrphanGraceOver;
    private sealed record PlaceSecondary;
    private sealed record SecondaryStartTimeout(Guid Attempt);
    private sealed record SwitchoverTimeout(Guid Id);
    private sealed record PickTimeout(Guid Pick);

    /// <summary>
    /// A node pick asked of <paramref name="Picker"/>'s node-load actor, for the primary of <paramref name="Generation"/> or
    /// for a secondary of the primary on <paramref name="PrimaryNode"/>; <paramref name="Asked"/> times so far.
    /// </summary>
    private sealed record PendingPick(Guid Id, PlacementRole Role, Address Picker, Address? PrimaryNode, long Generation, int Asked);

    /// <summary>
    /// A `vm migrate --primary` under way: to <paramref name="Target"/>; <paramref name="HandingOverAt"/> is the generation
    /// whose primary was told to hand over (null while the secondary is still being moved there).
    /// </summary>
    private sealed record Switchover(Guid Id, Address Target, string Reason, DateTime Since, long? HandingOverAt);

    /// <summary>How long a switchover (moving the secondary first, then the handover) may take before it is given up here.</summary>
    private static readonly TimeSpan SwitchoverWait = TimeSpan.FromSeconds(60);

    /// <summary>How long executor hosts have to answer <see cref="FindExecutors"/> after this actor (re)starts.</summary>
    private static readonly TimeSpan LocateWait = TimeSpan.FromSeconds(3);
    /// <summary>How long a placed primary may take to rebuild and claim before the placement is looked at again.</summary>
    private static readonly TimeSpan PrimaryStartWait = TimeSpan.FromSeconds(20);
    /// <summary>After the primary died: time for its secondary to report as the new primary before the claims are looked at.</summary>
    private static readonly TimeSpan OrphanGrace = TimeSpan.FromSeconds(3);
    /// <summary>How long a node may take to answer StartSecondary before another node is tried.</summary>
    private static readonly TimeSpan SecondaryStartWait = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);
    /// <summary>How long the picking node may take to answer before it is asked again.</summary>
    private static readonly TimeSpan PickWait = TimeSpan.FromMilliseconds(500);
    /// <summary>
    /// How often the picking node is asked before this actor picks itself. Its answer is usually only late (a loaded
    /// machine, a burst of placements after a node loss), and only that node's picks are counted together: a pick made
    /// here with this node's view is how secondaries herded onto one survivor.
    /// </summary>
    private const int PickAsks = 3;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _name;
    private readonly ClaimStore _claims;
    private readonly Cluster _cluster = Cluster.Get(Context.System);
    private LaunchSpec? _spec;
    private readonly ExposureBook _exposure = new();
    private bool _stopped;
    private ProtectionMode _protection = ProtectionMode.On;
    // Where the next secondary should go, when the operator said (migrate, resume): "host:port". It holds
    // until a secondary is protected or the node fails a placement, not just for one attempt: an attempt
    // dropped because the primary moved on to a new generation meanwhile must not send the secondary elsewhere.
    private string? _preferredNode;

    // Known only in memory: after a restart of this actor, Locating finds them again.
    private long _generation;
    private IActorRef? _primary;
    private PrimaryPhase _primaryPhase;
    private string? _primaryNode;
    private IReadOnlyList<FailoverRecord> _history = [];
    // The secondary placed (Executor null until it reports up) or adopted, and the generation it is for.
    private (Guid Attempt, Address Node, IActorRef? Executor, long Generation)? _secondary;
    private readonly HashSet<Address> _badNodes = [];
    private Switchover? _switchover;
    // A node pick asked of the picking node (the primary's, or the oldest member's), not yet answered.
    private PendingPick? _picking;

    public ProtectedVm(string name, ClaimStore claims)
    {
        _name = name;
        _claims = claims;
        Recover<Defined>(d => { _spec = new LaunchSpec(_name, d.Image, d.MemorySize); _stopped = false; _exposure.Clear(); });
        Recover<Exposed>(e => _exposure.Add(e.Port));
        Recover<MadeDurable>(_ => _spec = _spec! with { Durable = true });
        Recover<Stopped>(_ => { _stopped = true; _exposure.Clear(); });
        Recover<ProtectionSet>(Apply);
        Recover<RecoveryCompleted>(_ =>
        {
            if (_spec is null) Become(Undefined);
            else if (_stopped) Become(StoppedPhase);
            else BecomeLocating();
        });
    }

    public override string PersistenceId => $"vm-{_name}";
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string name, ClaimStore claims) => Akka.Actor.Props.Create(() => new ProtectedVm(name, claims));

    // ---- Phases ----

    private void Undefined()
    {
        Command<DefineVm>(Define);
        CommandAny(message =>
        {
            if (message is IControlRequest) Sender.Tell(new ControlError($"unknown VM '{_name}'", ControlErrorKind.UnknownVm));
            else if (message is SecondaryUp up) up.Secondary.Tell(new RetireExecutor(_name));
        });
    }

    private void StoppedPhase()
    {
        Command<DefineVm>(Define);
        Command<StopVm>(_ => Sender.Tell(new ControlOk($"VM '{_name}' stopped")));
        Command<LocatePrimary>(_ => Sender.Tell(new VmRemoved(_name)));
        Command<PrimaryReport>(report => report.Primary.Tell(new RetireExecutor(_name)));
        Command<SecondaryUp>(up => up.Secondary.Tell(new RetireExecutor(_name)));
        // A node that missed the stop still listens: it is told to close.
        Command<ListenerReport>(report =>
        {
            if (report.Listeners.Count > 0) Sender.Tell(new ExposureAnnounce(_name, []));
        });
        CommandAny(message =>
        {
            if (message is IControlRequest) Sender.Tell(new ControlError($"VM '{_name}' is stopped", ControlErrorKind.Stopped));
        });
    }

    /// <summary>Just (re)started with a VM defined: are its sides running somewhere already?</summary>
    private void Locating()
    {
        Command<LocateTimeout>(_ =>
        {
            _log.Info("{0}: no running primary found; looking at the claims", _name);
            LookAtClaims();
        });
        Command<NewestClaim>(OnNewestClaim);
        Running(adoptOnly: true);
    }

    /// <summary>A primary was started on a node; waiting for it to rebuild, claim and report.</summary>
    private void PlacingPrimary()
    {
        Command<PrimaryStartTimeout>(timeout =>
        {
            _log.Warning("{0}: the primary of generation {1} did not report within {2} s; looking again", _name, timeout.Generation, PrimaryStartWait.TotalSeconds);
            LookAtClaims();
        });
        Command<NewestClaim>(OnNewestClaim);
        Running(adoptOnly: true);
    }

    /// <summary>The primary died: its secondary should report as the new primary; if none does, the claims decide.</summary>
    private void Orphaned()
    {
        Command<OrphanGraceOver>(_ => LookAtClaims());
        Command<NewestClaim>(OnNewestClaim);
        Running(adoptOnly: true);
    }

    /// <summary>
    /// A primary is live. It reports its phase; this actor places a secondary whenever it is Alone,
    /// and replaces one that dies or fails to come in.
    /// </summary>
    /// <param name="adoptOnly">In the other phases only a primary's report (adopting it) and the common requests apply.</param>
    private void Running(bool adoptOnly = false)
    {
        Command<PrimaryReport>(OnPrimaryReport);
        // In every phase, so that a pick under way always ends (it does nothing unless a secondary is still wanted).
        Command<NodePicked>(picked => OnPicked(picked.Pick, _ => picked.Node));
        Command<PickTimeout>(timeout =>
        {
            if (_picking is not { } picking || picking.Id != timeout.Pick) return;
            if (picking.Asked < PickAsks)
            {
                AskForPick(picking with { Asked = picking.Asked + 1 }); // the same pick: its first answer still counts
                return;
            }
            _log.Warning("{0}: {1} did not pick a node for the {2} in {3} asks of {4} ms; picking here", _name, NodePicker.Describe(picking.Picker),
                picking.Role == PlacementRole.Primary ? "primary" : "secondary", PickAsks, PickWait.TotalMilliseconds);
            OnPicked(timeout.Pick, PickHere);
        });
        if (!adoptOnly)
        {
            Command<SecondaryUp>(OnSecondaryUp);
            Command<SecondaryFailed>(failed =>
            {
                if (_secondary?.Attempt != failed.Attempt) return;
                _log.Warning("{0}: the secondary on {1} could not start: {2}", _name, NodePicker.Describe(_secondary.Value.Node), failed.Reason);
                AvoidNode(_secondary.Value.Node);
                _secondary = null;
                Timers.StartSingleTimer("place-secondary", new PlaceSecondary(), RetryDelay);
            });
            Command<SecondaryStartTimeout>(timeout =>
            {
                if (_secondary is not { Executor: null } pending || pending.Attempt != timeout.Attempt) return;
                // A node that died but is not yet known as unreachable never answers: try another one.
                _log.Warning("{0}: no secondary started on {1} within {2} s; trying another node", _name, NodePicker.Describe(pending.Node), SecondaryStartWait.TotalSeconds);
                AvoidNode(pending.Node);
                _secondary = null;
                EnsureSecondary();
            });
            Command<PlaceSecondary>(_ => EnsureSecondary());
        }
        else
        {
            Command<SecondaryUp>(up => up.Secondary.Tell(new RetireExecutor(_name)));
        }
        Command<SetProtection>(OnSetProtection);
        Command<MigrateSecondary>(OnMigrateSecondary);
        Command<MigratePrimary>(OnMigratePrimary);
        Command<SwitchoverTimeout>(timeout =>
        {
            if (_switchover?.Id != timeout.Id) return;
            _log.Warning("{0}: {1}: not done within {2} s; given up", _name, _switchover.Reason, SwitchoverWait.TotalSeconds);
            _switchover = null;
        });
        Command<ExecutorsFound>(found =>
        {
            foreach (var primary in found.Primaries) primary.Tell(new ReportPlacement(_name));
        });
        Command<Terminated>(OnTerminated);
        Command<StopVm>(StopVm);
        Command<ExposeVm>(Expose);
        Command<GetExposure>(_ => Sender.Tell(_exposure.Describe(_name, node => NodePicker.Find(_cluster, node) is not null)));
        Command<ListenerReport>(report => _exposure.Record(report));
        Command<ClusterEvent.MemberUp>(up => TellExposure(up.Member.Address));
        // The members Up when the subscription began are told directly as well: the publish reaches only the front doors
        // whose subscription has spread to this node's mediator, and a node Up a moment ago may not be among them yet.
        Command<ClusterEvent.CurrentClusterState>(state =>
        {
            foreach (var member in state.Members.Where(m => m.Status == MemberStatus.Up)) TellExposure(member.Address);
        });
        Command<LocatePrimary>(locate =>
        {
            if (_primary is not null) _primary.Forward(locate); // none: the next primary announces itself when live
        });
        // The directory sends the definition again until it hears back: the same one is answered as done.
        Command<DefineVm>(define => Sender.Tell(IsDefinedAs(define)
            ? new VmDefined(_name, CreatedMessage())
            : new VmDefined(_name, $"a VM named '{_name}' already exists", ControlErrorKind.AlreadyExists)));
        Command<GetVmStatus>(status =>
        {
            if (_primary is not null) _primary.Forward(status);
            else Sender.Tell(new VmStatus(_name, VmState.Starting, _generation, _primaryNode, null, 0, 0, 0, 0, _history, "waiting for the primary to come up"));
        });
        Command<IControlRequest>(request =>
        {
            if (_primary is not null) _primary.Forward(request);
            else Sender.Tell(new ControlError($"VM '{_name}' has no live primary at the moment; try again", ControlErrorKind.Unavailable));
        });
        CommandAny(_ => { }); // stale timers and answers of an earlier phase
    }

    // ---- Decisions ----

    /// <summary>The definition and its ports in one write (one journal round trip per VM of a create of many).</summary>
    private void Define(DefineVm define)
    {
        var sender = Sender;
        if (IsDefinedAs(define))
        {
            sender.Tell(new VmDefined(_name, CreatedMessage())); // sent again while the first was being persisted
            return;
        }
        var events = new List<object> { new Defined(define.Image, define.MemorySize) };
        events.AddRange(define.Expose.Distinct().Select(p => new Exposed(p)));
        if (define.Durable) events.Add(new MadeDurable());
        PersistAll(events, e =>
        {
            if (e is Exposed exposed)
            {
                _exposure.Add(exposed.Port);
                return;
            }
            if (e is MadeDurable)
            {
                _spec = _spec! with { Durable = true };
                return;
            }
            var d = (Defined)e;
            _spec = new LaunchSpec(_name, d.Image, d.MemorySize);
            _stopped = false;
            _protection = ProtectionMode.On;
            _preferredNode = null;
            _exposure.Clear();
            ForgetSides();
        });
        // Runs after the handlers of the definition and of every port.
        DeferAsync(define, _ =>
        {
            sender.Tell(new VmDefined(_name, CreatedMessage()));
            AnnounceExposure();
            LookAtClaims();
        });
    }

    private bool IsDefinedAs(DefineVm define) =>
        _spec is { } spec && !_stopped && spec.MemorySize == define.MemorySize && spec.Image.AsSpan().SequenceEqual(define.Image) &&
        spec.Durable == define.Durable && define.Expose.All(_exposure.Contains);

    private string CreatedMessage() =>
        $"VM '{_name}' created{(_spec is { Durable: true } ? " (durable)" : "")}{(_exposure.Ports.Count == 0 ? "" : $", exposed on port {string.Join(", ", _exposure.Ports)} of every node")}";

    private void Expose(ExposeVm expose)
    {
        if (_exposure.Refusal(expose.Port) is { } refusal)
        {
            Sender.Tell(new ControlError(refusal, ControlErrorKind.Invalid));
            return;
        }
        if (_exposure.Contains(expose.Port))
        {
            Sender.Tell(new ControlOk($"VM '{_name}' is exposed on port {expose.Port} already"));
            return;
        }
        var sender = Sender;
        Persist(new Exposed(expose.Port), e =>
        {
            _exposure.Add(e.Port);
            AnnounceExposure();
            sender.Tell(new ControlOk($"VM '{_name}' exposed on port {e.Port} of every node"));
        });
    }

    /// <summary>
    /// Tells every node's front door the exposure, on a change and when this actor (re)starts (the front doors
    /// answer with their listeners' state). Never periodically: a node that joins later is told when it is Up.
    /// A VM exposed nowhere says nothing (no front door has anything open for it) and does not follow membership.
    /// </summary>
    private void AnnounceExposure()
    {
        if (_exposure.Ports.Count == 0)
        {
            _cluster.Unsubscribe(Self);
            return;
        }
        PublishExposure();
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.MemberUp));
    }

    private void PublishExposure() =>
        DistributedPubSub.Get(Context.System).Mediator.Tell(new Publish(ExposureTopics.Exposure, _exposure.Announce(_name)));

    private void TellExposure(Address node) =>
        Context.ActorSelection(new RootActorPath(node) / "user" / "front-door").Tell(_exposure.Announce(_name));

    protected override void PostStop()
    {
        _cluster.Unsubscribe(Self);
        base.PostStop();
    }

    private void StopVm(StopVm stop)
    {
        var sender = Sender;
        Persist(new Stopped(), _ =>
        {
            _stopped = true;
            _exposure.Clear();
            _cluster.Unsubscribe(Self);
            PublishExposure(); // empty: every front door closes its listeners for it
            _primary?.Tell(stop);
            if (_secondary?.Executor is { } secondary) secondary.Tell(new RetireExecutor(_name));
            ForgetSides();
            sender.Tell(new ControlOk($"VM '{_name}' stopped"));
            Become(StoppedPhase);
        });
    }

    private void BecomeLocating()
    {
        Become(Locating);
        AnnounceExposure();
        foreach (var member in _cluster.State.Members.Where(m => m.Status == MemberStatus.Up))
            NodePicker.ExecutorsAt(Context.System, member.Address).Tell(new FindExecutors(_name));
        Timers.StartSingleTimer("locate", new LocateTimeout(), LocateWait);
    }

    /// <summary>Nobody live is known: read the newest claim (asynchronously) to decide whether a primary must be placed.</summary>
    private void LookAtClaims()
    {
        Become(PlacingPrimary);
        _claims.NewestClaimAsync(_name).PipeTo(Self, success: c => new NewestClaim(c.Generation, c.Owner));
    }

    private void OnNewestClaim(NewestClaim newest)
    {
        if (_primary is not null) return; // a primary reported meanwhile
        // A holder still in the cluster may be serving its clients without our hearing of it: do not start a
        // rival (it could not win the claim anyway). Look again later.
        if (newest.Owner is not null && NodePicker.IsMember(_cluster, newest.Owner))
        {
            _log.Info("{0}: generation {1} is held by {2}, still a member; waiting for it to report", _name, newest.Generation, newest.Owner);
            foreach (var member in _cluster.State.Members.Where(m => m.Status == MemberStatus.Up))
                NodePicker.ExecutorsAt(Context.System, member.Address).Tell(new FindExecutors(_name));
            Timers.StartSingleTimer("primary-start", new PrimaryStartTimeout(newest.Generation), PrimaryStartWait);
            return;
        }
        // Picked by the oldest member for every coordinator, so that a create of many through every node's gateway is
        // counted in one table (each coordinator with its own view put 5 of 12 primaries on one of 4 nodes).
        AskForPick(new PendingPick(Guid.NewGuid(), PlacementRole.Primary, NodePicker.Oldest(_cluster), null, newest.Generation + 1, 1));
    }

    private void OnPrimaryPicked(long generation, Address? node)
    {
        if (_primary is not null)
        {
            EnsureSecondary(); // a primary reported meanwhile (its wish for a secondary waited for this pick to end)
            return;
        }
        if (node is null)
        {
            _log.Warning("{0}: no node to place the primary on", _name);
            Timers.StartSingleTimer("primary-start", new PrimaryStartTimeout(generation), RetryDelay);
            return;
        }
        _log.Info("{0}: starting the primary on {1} as generation {2}", _name, NodePicker.Describe(node), generation);
        NodePicker.ExecutorsAt(Context.System, node).Tell(new StartPrimary(_spec!, generation, _history, _protection, Self));
        Timers.StartSingleTimer("primary-start", new PrimaryStartTimeout(generation), PrimaryStartWait);
    }

    private void OnPrimaryReport(PrimaryReport report)
    {
        if (report.Generation < _generation && _primary is not null) return; // superseded: it will find out by its claim
        if (!report.Primary.Equals(_primary))
        {
            if (_primary is not null) Context.Unwatch(_primary);
            _log.Info("{0}: primary of generation {1} on {2} ({3})", _name, report.Generation, report.Node, report.Phase);
            _primary = Context.Watch(report.Primary);
            if (_protection != ProtectionMode.On) _primary.Tell(new ProtectionChanged(_name, _protection, "as set by the operator"));
            Timers.Cancel("primary-start");
            Timers.Cancel("locate");
            Timers.Cancel("orphaned");
            Become(() => Running());
        }
        if (_switchover is { HandingOverAt: { } handingOverAt } done && report.Generation > handingOverAt)
        {
            // The secondary took over, or it was lost and the old primary serves on: either way it is over.
            _log.Info("{0}: {1}: {2} (generation {3} on {4})", _name, done.Reason, report.Node == NodePicker.Describe(done.Target) ? "done" : "not done",
                report.Generation, report.Node);
            _switchover = null;
            Timers.Cancel("switchover");
        }
        _generation = report.Generation;
        _primaryPhase = report.Phase;
        _primaryNode = report.Node;
        _history = report.History;
        if (report.AvoidNode is { } avoid) _badNodes.Add(avoid);
        switch (report.Phase)
        {
            case PrimaryPhase.Alone:
                // Keep a secondary still being placed for this generation, unless it is the one that just failed.
                bool failed = report.FailedSecondary is not null && report.FailedSecondary.Equals(_secondary?.Executor);
                if (_secondary is { } placed && (failed || placed.Executor is not null || placed.Generation != report.Generation))
                {
                    if (placed.Executor is { } stale && !failed) stale.Tell(new RetireExecutor(_name));
                    if (placed.Executor is { } watched) Context.Unwatch(watched);
                    _secondary = null;
                }
                EnsureSecondary();
                break;
            case PrimaryPhase.Attaching or PrimaryPhase.Protected when report.Secondary is { } secondary:
                if (!secondary.Equals(_secondary?.Executor))
                {
                    if (_secondary?.Executor is { } old) Context.Unwatch(old);
                    _secondary = (_secondary?.Attempt ?? Guid.Empty, AddressOf(secondary), Context.Watch(secondary), report.Generation);
                }
                Timers.Cancel("secondary-start");
                if (report.Phase == PrimaryPhase.Protected)
                {
                    _badNodes.Clear();
                    _preferredNode = null; // served, or overtaken by a placement the primary made itself
                    if (_switchover is { HandingOverAt: null } switchover) ContinueSwitchover(switchover);
                    else if (_switchover is { HandingOverAt: { } at } given && at == report.Generation)
                    {
                        // The primary reports Protected again at the same generation only when it gave the handover up.
                        _log.Warning("{0}: {1}: given up by the primary", _name, given.Reason);
                        _switchover = null;
                        _preferredNode = null;
                        Timers.Cancel("switchover");
                    }
                }
                break;
            case PrimaryPhase.Claiming or PrimaryPhase.Ended:
                // The secondary is gone (or not wanted): the report after the claim asks for the next one.
                if (_secondary?.Executor is { } lost) Context.Unwatch(lost);
                _secondary = null;
                break;
        }
    }

    private bool WantsSecondary() =>
        _primary is not null && _primaryPhase == PrimaryPhase.Alone && _secondary is null && _spec is not null && _protection == ProtectionMode.On;

    /// <summary>
    /// The node for the secondary is picked by the primary's node (<see cref="PickNode"/>), which picks for all
    /// its primaries one after another; the operator's choice needs no pick. No answer to a few asks: picked here.
    /// </summary>
    private void EnsureSecondary()
    {
        if (!WantsSecondary() || _picking is not null) return;
        var primaryNode = AddressOf(_primary!);
        if (Preferred(primaryNode) is { } preferred)
        {
            PlaceSecondaryOn(preferred, primaryNode);
            return;
        }
        AskForPick(new PendingPick(Guid.NewGuid(), PlacementRole.Secondary, primaryNode, primaryNode, _generation, 1));
    }

    private void AskForPick(PendingPick picking)
    {
        _picking = picking;
        NodeLoadListener.At(Context.System, picking.Picker).Tell(new PickNode(_name, picking.Id, picking.Role, picking.PrimaryNode,
            picking.Role == PlacementRole.Secondary ? _badNodes.ToList() : []));
        Timers.StartSingleTimer("pick", new PickTimeout(picking.Id), PickWait);
    }

    private void OnPicked(Guid pick, Func<PendingPick, Address?> node)
    {
        if (_picking is not { } picking || picking.Id != pick) return;
        _picking = null;
        Timers.Cancel("pick");
        if (picking.Role == PlacementRole.Primary)
        {
            OnPrimaryPicked(picking.Generation, node(picking));
            return;
        }
        if (!WantsSecondary()) return;
        var primaryNode = picking.PrimaryNode!;
        if (AddressOf(_primary!) != primaryNode)
        {
            EnsureSecondary(); // the primary moved meanwhile: its new node picks
            return;
        }
        if (node(picking) is { } chosen)
        {
            PlaceSecondaryOn(chosen, primaryNode);
            return;
        }
        _badNodes.Clear();
        _log.Warning("{0}: no other node for a secondary; retrying", _name);
        Timers.StartSingleTimer("place-secondary", new PlaceSecondary(), RetryDelay);
    }

    private Address? PickHere(PendingPick picking) => NodeLoad.Get(Context.System).Pick(_cluster,
        picking.PrimaryNode is { } primaryNode ? _badNodes.Append(primaryNode) : [], picking.Role, _name, picking.PrimaryNode);

    private void PlaceSecondaryOn(Address node, Address primaryNode)
    {
        var attempt = Guid.NewGuid();
        _secondary = (attempt, node, null, _generation);
        _log.Info("{0}: placing a secondary for generation {1} on {2}", _name, _generation, NodePicker.Describe(node));
        NodePicker.ExecutorsAt(Context.System, node).Tell(new StartSecondary(_spec!, _generation, attempt, primaryNode, _history, Coordinator: Self));
        _primary!.Tell(new SecondaryPlaced(_name, _generation, NodePicker.Describe(node)));
        Timers.StartSingleTimer("secondary-start", new SecondaryStartTimeout(attempt), SecondaryStartWait);
    }

    private void OnSecondaryUp(SecondaryUp up)
    {
        if (_secondary is not { Executor: null } pending || pending.Attempt != up.Attempt || up.Generation != _generation || _primary is null)
        {
            up.Secondary.Tell(new RetireExecutor(_name)); // made for an earlier placement or generation
            return;
        }
        Timers.Cancel("secondary-start");
        _secondary = (pending.Attempt, pending.Node, Context.Watch(up.Secondary), pending.Generation);
        _primary.Tell(new AttachSecondary(_name, up.Generation, up.Host, up.Port, up.Token, up.Node, up.Secondary));
    }

    private void OnTerminated(Terminated terminated)
    {
        if (terminated.ActorRef.Equals(_primary))
        {
            _log.Warning("{0}: the primary of generation {1} on {2} is gone; waiting for its secondary to take over", _name, _generation, _primaryNode);
            _primary = null;
            Become(Orphaned);
            Timers.StartSingleTimer("orphaned", new OrphanGraceOver(), OrphanGrace);
            return;
        }
        if (terminated.ActorRef.Equals(_secondary?.Executor))
        {
            // If it was attached, the primary noticed on the channel and reports Claiming, then Alone; a
            // secondary that died before that is replaced from here.
            _log.Info("{0}: the secondary on {1} is gone", _name, NodePicker.Describe(_secondary!.Value.Node));
            _secondary = null;
            Timers.StartSingleTimer("place-secondary", new PlaceSecondary(), RetryDelay);
        }
    }

    /// <summary>A secondary could not start on <paramref name="node"/>: the next placements go elsewhere, even if the operator had asked for it.</summary>
    private void AvoidNode(Address node)
    {
        _badNodes.Add(node);
        if (_preferredNode == NodePicker.Describe(node)) _preferredNode = null;
    }

    /// <summary>The node the operator asked for, while it is a live member other than the primary's.</summary>
    private Address? Preferred(Address primaryNode)
    {
        if (_preferredNode is not { } wanted) return null;
        var node = NodePicker.Find(_cluster, wanted);
        if (node is not null && node != primaryNode) return node;
        _preferredNode = null;
        return null;
    }

    private void Apply(ProtectionSet set)
    {
        _protection = set.Mode;
        if (set.Mode != ProtectionMode.On) _preferredNode = set.ResumeOn; // turned off: a pending migration is dropped too
    }

    /// <summary>
    /// Protect, unprotect, suspend or resume: the setting is persisted, then the primary is told (it lets its
    /// secondary go in good order, or asks for one). Resuming after a suspension puts the secondary back on the
    /// node it was on, when that node is still live.
    /// </summary>
    private void OnSetProtection(SetProtection request)
    {
        if (request.Mode == _protection)
        {
            Sender.Tell(new ControlOk($"VM '{_name}': protection is {Describe(_protection)} already"));
            return;
        }
        string? resumeOn = request.Mode == ProtectionMode.Suspended && _secondary is { } current ? NodePicker.Describe(current.Node) : null;
        var sender = Sender;
        var previous = _protection;
        Persist(new ProtectionSet(request.Mode, resumeOn), set =>
        {
            Apply(set);
            string reason = request.Mode switch
            {
                ProtectionMode.Off => "fault tolerance turned off by the operator",
                ProtectionMode.Suspended => "protection suspended by the operator",
                _ when previous == ProtectionMode.Suspended => "protection resumed by the operator",
                _ => "fault tolerance turned on by the operator",
            };
            _log.Info("{0}: {1}", _name, reason);
            if (request.Mode != ProtectionMode.On && _secondary is { Executor: null }) _secondary = null; // a placement under way is dropped
            _primary?.Tell(new ProtectionChanged(_name, request.Mode, reason));
            sender.Tell(new ControlOk($"VM '{_name}': {reason}"));
            EnsureSecondary();
        });
    }

    private void OnMigrateSecondary(MigrateSecondary request)
    {
        var node = NodePicker.Find(_cluster, request.Node);
        if (node is null)
            Sender.Tell(new ControlError($"no live cluster node {request.Node} (nodes are named host:port, as `vm status` shows them)", ControlErrorKind.UnknownNode));
        else if (_primary is null)
            Sender.Tell(new ControlError($"VM '{_name}' has no live primary at the moment; try again", ControlErrorKind.Unavailable));
        else if (node == AddressOf(_primary))
            Sender.Tell(new ControlError($"{request.Node} runs the primary of '{_name}': primary and secondary must be on different nodes", ControlErrorKind.Invalid));
        else if (_protection != ProtectionMode.On)
            Sender.Tell(new ControlError($"VM '{_name}' has protection {Describe(_protection)}: there is no secondary to move", ControlErrorKind.NotNow));
        else if (_secondary is { } current && current.Node == node)
            Sender.Tell(new ControlOk($"the secondary of '{_name}' is on {request.Node} already"));
        else if (_primaryPhase != PrimaryPhase.Protected || _preferredNode is not null || _switchover is not null)
            Sender.Tell(new ControlError($"VM '{_name}' is not Protected right now ({_primaryPhase}); an operation may be in progress, try again", ControlErrorKind.NotNow));
        else
        {
            _preferredNode = NodePicker.Describe(node);
            string reason = $"secondary migrated to {request.Node} by the operator";
            _log.Info("{0}: {1}", _name, reason);
            _primary.Tell(new ReplaceSecondary(_name, reason));
            Sender.Tell(new ControlOk($"moving the secondary of '{_name}' to {request.Node}"));
        }
    }

    /// <summary>
    /// `vm migrate --primary NODE`: a planned switchover to the secondary on NODE, after moving the secondary there when it
    /// is elsewhere. The old primary's node is preferred for the next secondary.
    /// </summary>
    private void OnMigratePrimary(MigratePrimary request)
    {
        var node = NodePicker.Find(_cluster, request.Node);
        if (node is null)
            Sender.Tell(new ControlError($"no live cluster node {request.Node} (nodes are named host:port, as `vm status` shows them)", ControlErrorKind.UnknownNode));
        else if (_primary is null)
            Sender.Tell(new ControlError($"VM '{_name}' has no live primary at the moment; try again", ControlErrorKind.Unavailable));
        else if (node == AddressOf(_primary))
            Sender.Tell(new ControlOk($"the primary of '{_name}' is on {request.Node} already"));
        else if (_protection != ProtectionMode.On)
            Sender.Tell(new ControlError($"VM '{_name}' has protection {Describe(_protection)}: there is no secondary to switch over to", ControlErrorKind.NotNow));
        else if (_primaryPhase != PrimaryPhase.Protected || _preferredNode is not null || _switchover is not null)
            Sender.Tell(new ControlError($"VM '{_name}' is not Protected right now ({_primaryPhase}); an operation may be in progress, try again", ControlErrorKind.NotNow));
        else
        {
            var switchover = new Switchover(Guid.NewGuid(), node, $"primary switched over to {request.Node} by the operator", DateTime.UtcNow, null);
            _switchover = switchover;
            Timers.StartSingleTimer("switchover", new SwitchoverTimeout(switchover.Id), SwitchoverWait);
            _log.Info("{0}: {1}", _name, switchover.Reason);
            bool secondaryThere = _secondary is { } current && current.Node == node;
            Sender.Tell(new ControlOk(secondaryThere
                ? $"switching the primary of '{_name}' over to {request.Node}"
                : $"moving the secondary of '{_name}' to {request.Node}, then switching the primary over to it"));
            if (secondaryThere) ContinueSwitchover(switchover);
            else
            {
                _preferredNode = request.Node;
                _primary.Tell(new ReplaceSecondary(_name, $"secondary migrated to {request.Node} for a switchover"));
            }
        }
    }

    /// <summary>The primary is Protected: with its secondary on the target, it is told to hand over; elsewhere, the move failed.</summary>
    private void ContinueSwitchover(Switchover switchover)
    {
        if (_primary is null) return;
        if (_secondary?.Node != switchover.Target)
        {
            _log.Warning("{0}: {1}: the secondary could not be moved there; not switching over", _name, switchover.Reason);
            _switchover = null;
            Timers.Cancel("switchover");
            return;
        }
        _switchover = switchover with { HandingOverAt = _generation };
        _preferredNode = NodePicker.Describe(AddressOf(_primary)); // the old primary's node takes the next secondary
        _primary.Tell(new HandOver(_name, switchover.Reason, switchover.Since));
    }

    private static string Describe(ProtectionMode mode) => mode switch
    {
        ProtectionMode.On => "on",
        ProtectionMode.Off => "off",
        _ => "suspended",
    };

    private void ForgetSides()
    {
        if (_primary is not null) Context.Unwatch(_primary);
        if (_secondary?.Executor is { } secondary) Context.Unwatch(secondary);
        _primary = null;
        _secondary = null;
        _picking = null;
    }

    private Address AddressOf(IActorRef actor) => actor.Path.Address.HasGlobalScope ? actor.Path.Address : _cluster.SelfAddress;
}
