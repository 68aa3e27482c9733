using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>How `vm create NAME...` and `vm list` print their per-VM results.</summary>
public static class BatchOutput
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// One line per VM in the order asked: created ones on stdout, refused ones on stderr ("lockstep: NAME: why").
    /// Exit status: success when all were created, else that of the worst failure (bad input before unavailable).
    /// </summary>
    public static int Print(VmsCreated created, TextWriter stdout, TextWriter stderr)
    {
        foreach (var result in created.Results)
        {
            if (result.Error is null) stdout.WriteLine(result.Message);
            else stderr.WriteLine($"lockstep: {result.Name}: {result.Message}");
        }
        stdout.Flush();
        var failures = created.Results.Where(r => r.Error is not null).ToList();
        if (failures.Count == 0) return ExitCodes.Success;
        stderr.WriteLine($"lockstep: {failures.Count} of {created.Results.Count} VMs not created");
        return failures.Any(f => f.Error is not ControlErrorKind.Unavailable) ? ExitCodes.BadInput : ExitCodes.Unavailable;
    }

    /// <summary>One line per VM, its name first: NAME STATE gGENERATION primary NODE secondary NODE (or why its status is missing).</summary>
    public static string Table(VmSummaries list)
    {
        int width = list.Vms.Count == 0 ? 0 : list.Vms.Max(v => v.Name.Length);
        var text = new System.Text.StringBuilder();
        foreach (var vm in list.Vms)
        {
            text.Append(vm.Name.PadRight(width));
            if (vm.State is { } state)
                text.Append($"  {state,-12}  g{vm.Generation,-4}  primary {vm.Primary ?? "-",-21}  secondary {vm.Secondary ?? "-"}");
            else
                text.Append($"  {"?",-12}  {vm.Problem}");
            text.Append('\n');
        }
        return text.ToString();
    }

    public static string Json(VmSummaries list)
    {
        var array = new JsonArray();
        foreach (var vm in list.Vms)
        {
            array.Add(new JsonObject
            {
                ["name"] = vm.Name,
                ["state"] = vm.State?.ToString(),
                ["generation"] = vm.Generation,
                ["primary"] = vm.Primary,
                ["secondary"] = vm.Secondary,
                ["problem"] = vm.Problem,
            });
        }
        return array.ToJsonString(Indented);
    }
}
