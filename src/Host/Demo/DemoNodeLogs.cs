using System.Globalization;
using System.Text.RegularExpressions;
using Lockstep.Harness;

namespace Lockstep.Host.Demo;

/// <summary>
/// Reads the nodes' own log lines for moments `vm status` can only bound: a status answer may be missing
/// for seconds around a failover, while the primary logs the instant its VM becomes Protected.
/// </summary>
public static partial class DemoNodeLogs
{
    /// <summary>When a node logged "VM is Protected (generation G, ...)" for a generation above <paramref name="above"/>, in UTC; null when none did.</summary>
    public static (DateTime AtUtc, NodeProcess Node)? ProtectedAfter(IEnumerable<NodeProcess> nodes, string vm, long above)
    {
        (DateTime, NodeProcess)? earliest = null;
        foreach (var node in nodes)
        {
            foreach (string line in node.Output.Split('\n'))
            {
                if (!line.Contains($"{vm} is Protected (generation ", StringComparison.Ordinal)) continue;
                var match = ProtectedLine().Match(line);
                if (!match.Success || !long.TryParse(match.Groups["generation"].Value, CultureInfo.InvariantCulture, out long generation)) continue;
                if (generation <= above || !TryParseStamp(match.Groups["stamp"].Value, out var at)) continue;
                if (earliest is null || at < earliest.Value.Item1) earliest = (at, node);
            }
        }
        return earliest;
    }

    private static bool TryParseStamp(string stamp, out DateTime at) =>
        DateTime.TryParseExact(stamp, "MM/dd/yyyy HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out at);

    // Akka's log line: "[INFO][11/24/2026 20:19:23.092Z][Thread 0006][path] demo-kv is Protected (generation 2, ...)".
    [GeneratedRegex(@"^\[\w+\]\[(?<stamp>[0-9/]+ [0-9:.]+)Z?\].* is Protected \(generation (?<generation>[0-9]+)")]
    private static partial Regex ProtectedLine();
}
