using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Event;
using Akka.Persistence;
using Lockstep.Actors.FrontDoor;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;

namespace Lockstep.Actors.Vm;

/// <summary>
/// The cluster's list of VM names (one sharded, event-sourced entity): it refuses duplicates and invalid images
/// before a coordinator is made, defines the new VMs at their coordinators, and answers `vm list`.
/// A create (of one or of many) is one event holding the image once; then each VM's coordinator is sent its
/// definition, a window at a time, and sent it again until it answers (a shard that restarts drops what it had
/// buffered). Only when every VM of the create has answered is the create marked done; a directory that restarts
/// meanwhile (its node lost) goes on with what was left, so a registered name always ends up defined.
/// Registrations are persisted without stashing the next create meanwhile (PersistAsync; a name being registered
/// counts as taken).
/// It also keeps which VM each exposed port belongs to, so that a port is never given to two VMs: each node's front
/// door binds a port for whichever VM it heard of first, and two VMs on one port would be reached by different clients
/// on different nodes.
/// </summary>
public sealed class VmDirectory : ReceivePersistentActor, IWithTimers
{
    public const string EntityId = "all";

    /// <summary>
    /// VMs defined at their coordinators at once, at most: more only queue up on the shared journal, and their shards' limits run out.
    /// With 64, a create of 200 under load started its coordinators over 22 s, each definition's round trip (a coordinator's
    /// recovery and its write) taking 1.5-2 s: at most about 35 a second. The journal merges the writes of many VMs into one
    /// transaction, so a wider window costs no more writes (its own effect on a create was not measured separately).
    /// </summary>
    private const int Window = 256;

    /// <summary>A definition not answered in this time is sent again.</summary>
    private static readonly TimeSpan ResendAfter = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);

    /// <summary>One VM of a create (<see cref="Created"/>), with the ports it is exposed on.</summary>
    private sealed record NewVm(string Name, IReadOnlyList<int> Expose);

    /// <summary>Registered before creates were batched (a journal of an older version); no longer written.</summary>
    private sealed record Registered(string Name);
    /// <param name="Durable">The VMs were created `--durable` (their outputs wait for the journal too).</param>
    private sealed record Created(Guid Id, IReadOnlyList<NewVm> Vms, byte[] Image, uint MemorySize, bool Durable = false);
    private sealed record CreateDone(Guid Id);
    private sealed record Removed(string Name);
    /// <summary>A running VM exposed on one more port (`vm expose`); the ports of a create are in <see cref="Created"/>.</summary>
    private sealed record PortExposed(string Name, int Port);
    private sealed record ResendTick;

    /// <summary>A create under way. <paramref name="Results"/>: one per name asked, in order (null: not answered yet).</summary>
    private sealed class OpenCreate(Created created, IActorRef? replyTo, bool single, CreateResult?[] results, int[] positions)
    {
        public Created Created { get; } = created;
        public IActorRef? ReplyTo { get; set; } = replyTo;
        public bool Single { get; } = single;
        public CreateResult?[] Results { get; } = results;
        /// <summary>The position in <see cref="Results"/> of each of <see cref="Created"/>'s VMs.</summary>
        public int[] Positions { get; } = positions;
        public HashSet<string> Open { get; } = new(created.Vms.Select(v => v.Name), StringComparer.Ordinal);
        public DateTime AnswerBy { get; set; } = DateTime.MaxValue;
    }

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly SortedSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _registering = new(StringComparer.Ordinal);
    // Ports of VMs registered or being registered. A journal from before ports were kept here does not name those a
    // `vm expose` added; their VMs' coordinators still hold them.
    private readonly Dictionary<int, string> _portOwners = [];
    private readonly Dictionary<Guid, OpenCreate> _creates = [];
    private readonly Queue<(Guid Create, NewVm Vm)> _toSend = new();
    private readonly Dictionary<string, (Guid Create, NewVm Vm, DateTime SentAt)> _sent = new(StringComparer.Ordinal);
    private readonly IActorRef _vms;

    public VmDirectory(IActorRef vmRegion)
    {
        _vms = vmRegion;
        Recover<Registered>(r => _names.Add(r.Name));
        Recover<Created>(c =>
        {
            foreach (var vm in c.Vms)
            {
                _names.Add(vm.Name);
                Own(vm.Name, vm.Expose);
            }
            _creates[c.Id] = new OpenCreate(c, null, false, new CreateResult?[c.Vms.Count], Enumerable.Range(0, c.Vms.Count).ToArray());
        });
        Recover<CreateDone>(d => _creates.Remove(d.Id));
        Recover<Removed>(r => Forget(r.Name));
        Recover<PortExposed>(e => Own(e.Name, [e.Port]));
        Recover<RecoveryCompleted>(_ =>
        {
            foreach (var open in _creates.Values)
                foreach (var vm in open.Created.Vms.Where(v => open.Open.Contains(v.Name))) _toSend.Enqueue((open.Created.Id, vm));
            if (_toSend.Count > 0) _log.Info("directory: {0} VMs of unfinished creates still to define", _toSend.Count);
            Pump();
        });

        Command<CreateVm>(create => Register([create.Name], create.Image, create.MemorySize, _ => create.Expose ?? [], create.Durable, single: true));
        Command<CreateVms>(batch => Register(batch.Names, batch.Image, batch.MemorySize,
            i => batch.ExposeFrom is { } from ? [from + i] : [], batch.Durable, single: false));
        Command<VmDefined>(defined => Confirm(defined.Name, new CreateResult(defined.Name, defined.Message, defined.Error)));
        Command<ExposeVm>(Expose);
        Command<ResendTick>(_ => Resend());
        Command<ListVms>(_ => Sender.Tell(new VmList(_names.ToList())));
        Command<StopVm>(stop =>
        {
            if (!_names.Contains(stop.Name))
            {
                Sender.Tell(new ControlError($"unknown VM '{stop.Name}'", ControlErrorKind.UnknownVm));
                return;
            }
            var sender = Sender;
            Persist(new Removed(stop.Name), r =>
            {
                Forget(r.Name);
                _vms.Tell(new ShardingEnvelope(r.Name, stop), sender);
            });
        });
    }

    public override string PersistenceId => "vm-directory";
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef vmRegion) => Akka.Actor.Props.Create(() => new VmDirectory(vmRegion));

    /// <summary>
    /// Refuses the bad names (each on its own), persists the rest as one create, then defines them. Answers when every
    /// VM has answered: <see cref="ControlOk"/> or <see cref="ControlError"/> for a single create, else <see cref="VmsCreated"/>.
    /// </summary>
    private void Register(IReadOnlyList<string> names, byte[] image, uint memorySize, Func<int, IReadOnlyList<int>> expose, bool durable, bool single)
    {
        var results = new CreateResult?[names.Count];
        var imageProblem = ValidateImage(image, memorySize);
        var accepted = new List<NewVm>();
        var positions = new List<int>();
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        var claimedPorts = new Dictionary<int, string>();
        for (int i = 0; i < names.Count; i++)
        {
            var problem = imageProblem ?? ValidateName(names[i], claimed) ?? ValidatePorts(expose(i)) ?? PortTaken(names[i], expose(i), claimedPorts);
            if (problem is not null)
            {
                results[i] = new CreateResult(names[i], problem.Message, problem.Kind);
                continue;
            }
            claimed.Add(names[i]);
            foreach (int port in expose(i)) claimedPorts[port] = names[i];
            accepted.Add(new NewVm(names[i], expose(i)));
            positions.Add(i);
        }
        var sender = Sender;
        if (accepted.Count == 0)
        {
            Answer(sender, single, results!);
            return;
        }
        foreach (var vm in accepted)
        {
            _registering.Add(vm.Name);
            Own(vm.Name, vm.Expose);
        }
        var created = new Created(Guid.NewGuid(), accepted, image, memorySize, durable);
        PersistAsync(created, c =>
        {
            var open = new OpenCreate(c, sender, single, results, positions.ToArray()) { AnswerBy = DateTime.UtcNow + CreateVms.AnswerWithin(names.Count) };
            _creates[c.Id] = open;
            foreach (var vm in c.Vms)
            {
                _registering.Remove(vm.Name);
                _names.Add(vm.Name);
                _toSend.Enqueue((c.Id, vm));
            }
            Pump();
        });
    }

    /// <summary>Sends definitions while fewer than <see cref="Window"/> are unanswered.</summary>
    private void Pump()
    {
        while (_sent.Count < Window && _toSend.TryDequeue(out var next))
        {
            if (!_creates.TryGetValue(next.Create, out var open) || !open.Open.Contains(next.Vm.Name)) continue; // stopped meanwhile
            _sent[next.Vm.Name] = (next.Create, next.Vm, DateTime.UtcNow);
            Send(open.Created, next.Vm);
        }
        if (_sent.Count == 0 && !_creates.Values.Any(c => c.ReplyTo is not null)) Timers.Cancel("resend");
        else if (!Timers.IsTimerActive("resend")) Timers.StartPeriodicTimer("resend", new ResendTick(), Tick);
    }

    private void Send(Created created, NewVm vm) =>
        _vms.Tell(new ShardingEnvelope(vm.Name, new DefineVm(vm.Name, created.Image, created.MemorySize, vm.Expose, created.Durable)), Self);

    private void Resend()
    {
        var now = DateTime.UtcNow;
        foreach (var (name, sent) in _sent.Where(kv => now - kv.Value.SentAt > ResendAfter).ToList())
        {
            if (!_creates.TryGetValue(sent.Create, out var open)) continue;
            _log.Warning("directory: {0} did not confirm its definition within {1} s; sending it again", name, ResendAfter.TotalSeconds);
            _sent[name] = sent with { SentAt = now };
            Send(open.Created, sent.Vm);
        }
        // A requester is not kept waiting past the limit it was given: what is left is reported as not confirmed yet.
        foreach (var open in _creates.Values.Where(c => c.ReplyTo is not null && now > c.AnswerBy))
        {
            for (int i = 0; i < open.Created.Vms.Count; i++)
            {
                var vm = open.Created.Vms[i];
                if (open.Open.Contains(vm.Name))
                    open.Results[open.Positions[i]] = new CreateResult(vm.Name,
                        $"registered, but its coordinator did not confirm in time; the directory keeps trying (`vm status {vm.Name}` tells when it is up)",
                        ControlErrorKind.Unavailable);
            }
            Answer(open.ReplyTo!, open.Single, open.Results!);
            open.ReplyTo = null;
        }
        Pump();
    }

    private void Confirm(string name, CreateResult result)
    {
        if (!_sent.Remove(name, out var sent)) return; // a repeated answer
        if (_creates.TryGetValue(sent.Create, out var open) && open.Open.Remove(name))
        {
            int index = open.Created.Vms.ToList().FindIndex(v => v.Name == name);
            open.Results[open.Positions[index]] = result;
            if (result.Error is not null) // another definition holds it; this create did not happen
            {
                _names.Remove(name);
                Disown(name);
            }
            if (open.Open.Count == 0) Finish(open);
        }
        Pump();
    }

    private void Finish(OpenCreate open)
    {
        _creates.Remove(open.Created.Id);
        if (open.ReplyTo is { } replyTo) Answer(replyTo, open.Single, open.Results!);
        open.ReplyTo = null;
        PersistAsync(new CreateDone(open.Created.Id), _ => { });
    }

    private static void Answer(IActorRef to, bool single, CreateResult[] results)
    {
        if (!single)
        {
            to.Tell(new VmsCreated(results));
            return;
        }
        var result = results[0];
        to.Tell(result.Error is { } kind ? new ControlError(result.Message, kind) : new ControlOk(result.Message));
    }

    /// <summary>A stopped VM leaves the directory, and a create still defining it forgets it (answered as stopped).</summary>
    private void Forget(string name)
    {
        _names.Remove(name);
        Disown(name);
        _sent.Remove(name);
        foreach (var open in _creates.Values.Where(c => c.Open.Contains(name)).ToList())
        {
            open.Open.Remove(name);
            int index = open.Created.Vms.ToList().FindIndex(v => v.Name == name);
            open.Results[open.Positions[index]] = new CreateResult(name, $"VM '{name}' was stopped before it had started", ControlErrorKind.Stopped);
            if (open.Open.Count == 0 && !IsRecovering) Finish(open);
            else if (open.Open.Count == 0) _creates.Remove(open.Created.Id);
        }
    }

    /// <summary>Refuses a port another VM holds; records the port, then lets the VM's coordinator open it (it answers).</summary>
    private void Expose(ExposeVm expose)
    {
        if (!_names.Contains(expose.Name) && !_registering.Contains(expose.Name))
        {
            Sender.Tell(new ControlError($"unknown VM '{expose.Name}'", ControlErrorKind.UnknownVm));
            return;
        }
        var own = new ExposureBook();
        foreach (var (port, owner) in _portOwners)
            if (owner == expose.Name) own.Add(port);
        if (own.Refusal(expose.Port) is { } refusal)
        {
            Sender.Tell(new ControlError(refusal, ControlErrorKind.Invalid));
            return;
        }
        if (PortTaken(expose.Name, [expose.Port], []) is { } taken)
        {
            Sender.Tell(taken);
            return;
        }
        var sender = Sender;
        if (own.Contains(expose.Port))
        {
            _vms.Tell(new ShardingEnvelope(expose.Name, expose), sender); // it says so
            return;
        }
        Own(expose.Name, [expose.Port]);
        PersistAsync(new PortExposed(expose.Name, expose.Port), e => _vms.Tell(new ShardingEnvelope(e.Name, expose), sender));
    }

    private ControlError? PortTaken(string name, IReadOnlyList<int> ports, Dictionary<int, string> claimedInThisCreate)
    {
        foreach (int port in ports)
            if ((_portOwners.TryGetValue(port, out var owner) || claimedInThisCreate.TryGetValue(port, out owner)) && owner != name)
                return new($"port {port} is exposed by VM '{owner}' already", ControlErrorKind.AlreadyExists);
        return null;
    }

    private void Own(string name, IReadOnlyList<int> ports)
    {
        foreach (int port in ports) _portOwners[port] = name;
    }

    private void Disown(string name)
    {
        foreach (int port in _portOwners.Where(kv => kv.Value == name).Select(kv => kv.Key).ToList()) _portOwners.Remove(port);
    }

    private ControlError? ValidateName(string name, HashSet<string> claimedInThisCreate)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            return new($"invalid VM name '{name}': use 1-64 letters, digits, '-' or '_'", ControlErrorKind.Invalid);
        if (_names.Contains(name) || _registering.Contains(name) || claimedInThisCreate.Contains(name))
            return new($"a VM named '{name}' already exists", ControlErrorKind.AlreadyExists);
        return null;
    }

    private static ControlError? ValidateImage(byte[] image, uint memorySize)
    {
        try
        {
            ElfLoader.Parse(image, memorySize, out _);
        }
        catch (ImageException e)
        {
            return new($"invalid image: {e.Message}", ControlErrorKind.Invalid);
        }
        if (memorySize < MemoryMap.PageSize || memorySize % MemoryMap.PageSize != 0)
            return new($"invalid memory size {memorySize}", ControlErrorKind.Invalid);
        return null;
    }

    private static ControlError? ValidatePorts(IReadOnlyList<int> ports)
    {
        var exposure = new ExposureBook();
        foreach (int port in ports)
        {
            if (exposure.Refusal(port) is { } refusal) return new(refusal, ControlErrorKind.Invalid);
            exposure.Add(port);
        }
        return null;
    }
}
