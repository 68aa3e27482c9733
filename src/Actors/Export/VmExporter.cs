using Akka.Actor;
using Lockstep.Actors.Executors;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Recording;

namespace Lockstep.Actors.Export;

/// <summary>Reads a VM's history from the journal of <paramref name="system"/> and cuts an export out of it.</summary>
public static class VmExporter
{
    private static readonly TimeSpan LoadTimeout = TimeSpan.FromSeconds(30);

    /// <exception cref="ExportRangeException">No such VM in the journal, or a range it does not hold.</exception>
    public static async Task<ExportContents> BuildAsync(ActorSystem system, string vm, ExportBound? from, ExportBound? to)
    {
        var definition = await VmJournalReader.LoadDefinitionAsync(system, vm)
            ?? throw new ExportRangeException($"the journal holds no VM '{vm}'");
        var history = await VmJournalReader.LoadAsync(system, vm, LoadTimeout);
        return ExportRange.Cut(vm, definition, history, from, to, DateTime.UtcNow);
    }
}
