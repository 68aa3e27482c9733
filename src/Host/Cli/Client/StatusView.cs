using System.Globalization;
using System.Text;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>The human form of a VM's status: a compact block of fields, then the failover history.</summary>
public static class StatusView
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static string Render(VmStatus status)
    {
        var text = new StringBuilder();
        Field(text, "name", status.Name);
        Field(text, "state", status.State.ToString());
        Field(text, "generation", status.Generation.ToString(Invariant));
        Field(text, "primary", status.Primary ?? "-");
        Field(text, "secondary", status.Secondary ?? "-");
        Field(text, "vLockstep interval", status.LagMs.ToString("0.0", Invariant) + " ms");
        Field(text, "log bandwidth", Bandwidth(status.LogBytesPerSecond));
        Field(text, "instructions", status.Instructions.ToString("N0", Invariant));
        Field(text, "outputs", status.Outputs.ToString("N0", Invariant));
        if (!string.IsNullOrEmpty(status.Detail)) Field(text, "detail", status.Detail);
        text.Append('\n');
        AppendHistory(text, status.History);
        return text.ToString();
    }

    /// <summary>Bytes per second in the largest binary unit that keeps the number at least 1.</summary>
    public static string Bandwidth(double bytesPerSecond)
    {
        string[] units = ["B/s", "KiB/s", "MiB/s", "GiB/s"];
        double value = Math.Max(0, bytesPerSecond);
        int unit = 0;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        string number = unit == 0 ? value.ToString("0", Invariant) : value.ToString("0.0", Invariant);
        return $"{number} {units[unit]}";
    }

    private static void Field(StringBuilder text, string label, string value) =>
        text.Append(CultureInfo.InvariantCulture, $"{label + ":",-20}{value}\n");

    private static void AppendHistory(StringBuilder text, IReadOnlyList<FailoverRecord> history)
    {
        if (history.Count == 0)
        {
            text.Append("history: none\n");
            return;
        }
        text.Append("history (failovers and operations):\n");
        var rows = new List<string[]> { new[] { "when", "why", "gap ms", "on" } };
        rows.AddRange(history.Select(h => new[]
        {
            When(h.At),
            h.Kind == HistoryKind.Operation ? $"{h.Reason} ({h.DurationMs:0} ms)" : h.Reason,
            h.Kind == HistoryKind.Operation ? "-" : h.GapMs.ToString("0.0", Invariant),
            h.TookOver ?? "-",
        }));
        int[] widths = Enumerable.Range(0, 4).Select(c => rows.Max(r => r[c].Length)).ToArray();
        foreach (var row in rows)
        {
            // The gap column is numeric, so it lines up on the right.
            string line = $"  {row[0].PadRight(widths[0])}  {row[1].PadRight(widths[1])}  {row[2].PadLeft(widths[2])}  {row[3]}";
            text.Append(line.TrimEnd()).Append('\n');
        }
    }

    private static string When(DateTime at)
    {
        var local = at.Kind == DateTimeKind.Utc ? at.ToLocalTime() : at;
        return local.ToString("yyyy-MM-dd HH:mm:ss.fff", Invariant);
    }
}
