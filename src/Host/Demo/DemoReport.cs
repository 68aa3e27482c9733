using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Lockstep.Actors.Protocol;
using Lockstep.Host.Cli.Client;

namespace Lockstep.Host.Demo;

/// <summary>
/// The end of the demo: the figures of the run (what the client saw, what the VM's status says) and the
/// checks of what the demo claims, as a table. Passed is true only when every check that could be made held.
/// </summary>
public sealed partial class DemoReport
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private readonly List<(string Label, string Value)> _figures = [];
    private readonly List<DemoCheck> _checks = [];

    public bool Passed => _checks.All(c => c.Outcome != DemoCheckOutcome.Failed);

    public IEnumerable<string> FailureReasons =>
        _checks.Where(c => c.Outcome == DemoCheckOutcome.Failed).Select(c => $"{c.Name}: {c.Detail}");

    public void Add(DemoCheck check) => _checks.Add(check);

    /// <summary>The figures of the run, from the client's answers, the status samples and the last status.</summary>
    /// <param name="clientPath">How the clients reached the VM.</param>
    /// <param name="via">The same in short, for the gap: "through the front door".</param>
    public void AddFigures(string clientPath, string via, DemoTimeline timeline, DemoLoad load, IReadOnlyList<DemoStatusSample> samples, VmStatus? final,
        Func<string?, string> describe)
    {
        _figures.Add(("clients", clientPath));
        var all = load.Samples.Between(timeline.LoadStartMs, double.MaxValue);
        int puts = all.Count(a => a.Command.StartsWith("PUT", StringComparison.Ordinal));
        double seconds = (timeline.LoadEndMs - timeline.LoadStartMs) / 1000;
        _figures.Add(("requests answered", $"{all.Count:N0} ({all.Count - puts:N0} INCR, {puts:N0} PUT) from {load.Peers.Count} clients in {seconds:0.0} s, {all.Count / Math.Max(seconds, 0.001):0} ops/s on average"));

        var before = load.Samples.Between(timeline.LoadStartMs, double.IsNaN(timeline.KillAtMs) ? timeline.LoadEndMs : timeline.KillAtMs);
        _figures.Add(("latency before the kill", $"p50 {Ms(DemoSamples.Percentile(before, 0.50))}, p99 {Ms(DemoSamples.Percentile(before, 0.99))} ({before.Count:N0} requests)"));

        AddLockstepFigures(timeline, samples);
        if (double.IsNaN(timeline.KillAtMs))
        {
            _figures.Add(("failover", "none: the primary's node was not killed"));
            return;
        }

        var (normalGap, _) = load.Samples.LongestSilence(timeline.LoadStartMs + 1000, timeline.KillAtMs);
        var (gap, gapStart) = load.Samples.LongestSilence(timeline.KillAtMs, timeline.LoadEndMs);
        string when = gapStart - timeline.KillAtMs < 50 ? "at the kill" : $"{Seconds(gapStart - timeline.KillAtMs)} after the kill";
        _figures.Add(("failover gap (client)", $"{Ms(gap)} without any answer {via}, beginning {when} (before the kill at most {Ms(normalGap)})"));
        if (load.Samples.SilenceAcross(timeline.KillAtMs) is { } across && Math.Abs(across - gap) >= 1)
            _figures.Add(("silence across the kill", $"{Ms(across)} from the last answer before the kill to the first one after it"));

        var after = load.Samples.Between(timeline.KillAtMs, timeline.LoadEndMs);
        if (after.Count > 0)
        {
            var slowest = after.MaxBy(a => a.LatencyMs)!;
            _figures.Add(("slowest request", $"{Ms(slowest.LatencyMs)}, \"{slowest.Command}\" from client {slowest.Peer}, sent {slowest.Sends} times"));
        }

        var takeover = final?.History.LastOrDefault(h => h.Generation > timeline.GenerationBefore && h.GapMs > 0);
        _figures.Add(("takeover (history)", takeover is null
            ? "no takeover in the VM's history"
            : $"{Ms(takeover.GapMs)} from the primary's last sign of life to {describe(takeover.TookOver)} taking over ({takeover.Reason})"));

        string pause = final?.Detail is { } detail && PausePattern().Match(detail) is { Success: true } m
            ? $"{m.Groups[1].Value} ms (the new primary paused while the new secondary was seeded)"
            : $"not reported (status detail: \"{final?.Detail}\")";
        _figures.Add(("re-protection pause", pause));

        _figures.Add(("re-protection total", ReprotectionTotal(timeline, final, describe)));

        _figures.Add(("service before the kill", Service(load, timeline.LoadStartMs, timeline.KillAtMs)));
        if (!double.IsNaN(timeline.ProtectedAgainAtMs))
            _figures.Add(("service once re-protected", Service(load, timeline.ProtectedAgainAtMs, timeline.LoadEndMs)));
    }

    /// <summary>The data path's own figures, from the status samples while the VM was Protected under load and still whole.</summary>
    private void AddLockstepFigures(DemoTimeline timeline, IReadOnlyList<DemoStatusSample> samples)
    {
        var protectedBefore = samples.Where(s => s.AtMs >= timeline.LoadStartMs && (double.IsNaN(timeline.KillAtMs) || s.AtMs < timeline.KillAtMs) && s.State == Lockstep.Replication.VmState.Protected).ToList();
        if (protectedBefore.Count > 0)
        {
            _figures.Add(("log bandwidth", $"{StatusView.Bandwidth(protectedBefore.Average(s => s.LogBytesPerSecond))} on average while Protected under load, " +
                                           $"peak {StatusView.Bandwidth(protectedBefore.Max(s => s.LogBytesPerSecond))}"));
            _figures.Add(("vLockstep interval", $"{protectedBefore.Average(s => s.LagMs):0.0} ms on average, at most {protectedBefore.Max(s => s.LagMs):0.0} ms (before the kill)"));
        }
        else
        {
            _figures.Add(("log bandwidth", "no status sample while Protected under load"));
        }
    }

    private static string ReprotectionTotal(DemoTimeline timeline, VmStatus? final, Func<string?, string> describe)
    {
        if (double.IsNaN(timeline.ProtectedAgainAtMs)) return "not Protected again";
        string shown = $"`vm status` first showed it {Ms(timeline.ProtectedAgainAtMs - timeline.KillAtMs)} after the kill";
        return double.IsNaN(timeline.ProtectedLoggedAtMs)
            ? $"at most {Ms(timeline.ProtectedAgainAtMs - timeline.KillAtMs)} from the kill to Protected again: {shown} (secondary {describe(final?.Secondary)})"
            : $"{Ms(timeline.ProtectedLoggedAtMs - timeline.KillAtMs)} from the kill to Protected again, as logged by {describe(timeline.ProtectedLoggedBy)} " +
              $"(secondary {describe(final?.Secondary)}); {shown}";
    }

    /// <summary>Throughput, latency and how many requests had to be sent more than once, in [from, to).</summary>
    private static string Service(DemoLoad load, double fromMs, double toMs)
    {
        var answers = load.Samples.Between(fromMs, toMs);
        if (answers.Count == 0) return "no answers";
        double seconds = Math.Max((toMs - fromMs) / 1000, 0.001);
        double resent = 100.0 * answers.Count(a => a.Sends > 1) / answers.Count;
        return $"{answers.Count / seconds:0} ops/s, p50 {Ms(DemoSamples.Percentile(answers, 0.50))}, p99 {Ms(DemoSamples.Percentile(answers, 0.99))}, " +
               $"{resent:0.0}% of requests needed a resend (over {seconds:0.0} s)";
    }

    public string Render()
    {
        var text = new StringBuilder();
        text.Append("\nSummary\n");
        int width = _figures.Max(f => f.Label.Length);
        foreach (var (label, value) in _figures) text.Append(Invariant, $"  {label.PadRight(width)}  {value}\n");
        text.Append("\nChecks\n");
        foreach (var check in _checks)
        {
            string mark = check.Outcome switch
            {
                DemoCheckOutcome.Passed => "[ok]  ",
                DemoCheckOutcome.Failed => "[FAIL]",
                _ => "[n/a] ",
            };
            text.Append(Invariant, $"  {mark} {check.Name}: {check.Detail}\n");
        }
        text.Append(Passed ? "\nresult: PASS, every check that could be made held\n" : "\nresult: FAIL\n");
        return text.ToString();
    }

    private static string Seconds(double ms) => $"{ms / 1000:0.0} s";

    private static string Ms(double ms) => double.IsNaN(ms) ? "-" : ms < 10 ? $"{ms:0.0} ms" : $"{ms:N0} ms";

    [GeneratedRegex(@"re-protection pause ([0-9]+(?:\.[0-9]+)?) ms")]
    private static partial Regex PausePattern();
}
