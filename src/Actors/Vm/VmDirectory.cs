using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Persistence;
using Lockstep.Actors.FrontDoor;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;

namespace Lockstep.Actors.Vm;

/// <summary>
/// The cluster's list of VM names (one sharded, event-sourced entity): it refuses duplicates and
/// invalid images before a coordinator is made, and answers `vm list`. Registrations are persisted
/// without stashing the next create meanwhile (PersistAsync, a name being registered counts as taken),
/// so a create of many is written in batches instead of one write after another.
/// </summary>
public sealed class VmDirectory : ReceivePersistentActor
{
    public const string EntityId = "all";

    private sealed record Registered(string Name);
    private sealed record Removed(string Name);

    private readonly SortedSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _registering = new(StringComparer.Ordinal);
    private readonly IActorRef _vms;

    public VmDirectory(IActorRef vmRegion)
    {
        _vms = vmRegion;
        Recover<Registered>(r => _names.Add(r.Name));
        Recover<Removed>(r => _names.Remove(r.Name));

        Command<CreateVm>(create =>
        {
            if (Validate(create) is { } problem)
            {
                Sender.Tell(problem);
                return;
            }
            var sender = Sender;
            _registering.Add(create.Name);
            PersistAsync(new Registered(create.Name), r =>
            {
                _registering.Remove(r.Name);
                _names.Add(r.Name);
                _vms.Tell(new ShardingEnvelope(r.Name, create), sender);
            });
        });
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
                _names.Remove(r.Name);
                _vms.Tell(new ShardingEnvelope(r.Name, stop), sender);
            });
        });
    }

    public override string PersistenceId => "vm-directory";

    public static Props Props(IActorRef vmRegion) => Akka.Actor.Props.Create(() => new VmDirectory(vmRegion));

    private ControlError? Validate(CreateVm create)
    {
        if (string.IsNullOrWhiteSpace(create.Name) || create.Name.Length > 64 || !create.Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            return new($"invalid VM name '{create.Name}': use 1-64 letters, digits, '-' or '_'", ControlErrorKind.Invalid);
        if (_names.Contains(create.Name) || _registering.Contains(create.Name))
            return new($"a VM named '{create.Name}' already exists", ControlErrorKind.AlreadyExists);
        try
        {
            ElfLoader.Parse(create.Image, create.MemorySize, out _);
        }
        catch (ImageException e)
        {
            return new($"invalid image: {e.Message}", ControlErrorKind.Invalid);
        }
        if (create.Expose is { } ports)
        {
            var exposure = new ExposureBook();
            foreach (int port in ports)
            {
                if (exposure.Refusal(port) is { } refusal) return new(refusal, ControlErrorKind.Invalid);
                exposure.Add(port);
            }
        }
        if (create.MemorySize < MemoryMap.PageSize || create.MemorySize % MemoryMap.PageSize != 0)
            return new($"invalid memory size {create.MemorySize}", ControlErrorKind.Invalid);
        return null;
    }
}
