using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// The machine-readable form of a VM's status (`vm status --json`). Built field by field so the
/// document stays stable when the wire record grows.
/// </summary>
public static class StatusJson
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static string Render(VmStatus status)
    {
        var history = new JsonArray();
        foreach (var record in status.History)
        {
            history.Add(new JsonObject
            {
                ["at"] = AsUtc(record.At),
                ["reason"] = record.Reason,
                ["gapMs"] = record.GapMs,
                ["tookOver"] = record.TookOver,
                ["generation"] = record.Generation,
                ["kind"] = record.Kind.ToString(),
                ["durationMs"] = record.DurationMs,
            });
        }
        var document = new JsonObject
        {
            ["name"] = status.Name,
            ["state"] = status.State.ToString(),
            ["generation"] = status.Generation,
            ["primary"] = status.Primary,
            ["secondary"] = status.Secondary,
            ["lagMs"] = status.LagMs,
            ["logBytesPerSecond"] = status.LogBytesPerSecond,
            ["instructions"] = status.Instructions,
            ["outputs"] = status.Outputs,
            ["detail"] = status.Detail,
            ["figures"] = status.Figures is { } figures
                ? new JsonObject
                {
                    ["logBytesShipped"] = figures.LogBytesShipped,
                    ["outputsReleased"] = figures.OutputsReleased,
                    ["lastReprotectPauseMs"] = figures.LastReprotectPauseMs,
                    ["lastReprotectMs"] = figures.LastReprotectMs,
                    ["paused"] = figures.Paused,
                    ["journal"] = figures.Journal is { } journal
                        ? new JsonObject
                        {
                            ["committedEntries"] = journal.CommittedEntries,
                            ["heldOutputs"] = journal.HeldOutputs,
                            ["writeWaitingMs"] = journal.WriteWaitingMs,
                            ["problem"] = journal.Problem,
                            ["commits"] = journal.Commits,
                            ["commitParts"] = journal.Parts,
                            ["commitWaitedMs"] = journal.WaitedMs,
                            ["commitWriteMs"] = journal.WriteMs,
                        }
                        : null,
                    ["packetsDropped"] = figures.PacketsDropped,
                    ["heldOutputs"] = figures.HeldOutputs,
                    ["outputsDropped"] = figures.OutputsDropped,
                    ["doorDropped"] = figures.DoorDropped,
                }
                : null,
            ["history"] = history,
        };
        return document.ToJsonString(Indented);
    }

    // Nodes stamp history in UTC; an unmarked time is taken as such so the document always says "Z".
    private static DateTime AsUtc(DateTime at) => at.Kind switch
    {
        DateTimeKind.Local => at.ToUniversalTime(),
        DateTimeKind.Utc => at,
        _ => DateTime.SpecifyKind(at, DateTimeKind.Utc),
    };
}
