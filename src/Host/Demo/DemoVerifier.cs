using System.Globalization;

namespace Lockstep.Host.Demo;

/// <summary>
/// Reads the VM's state back once the load has stopped, as a client of its own: each counter's value and
/// every stored key, compared with what the load's clients were told.
/// </summary>
public sealed class DemoVerifier(DemoPeer reader)
{
    private const int ShownMismatches = 3;

    public async Task<DemoCheck> CountersAsync(IReadOnlyList<uint> peers, DemoAcknowledged acknowledged, CancellationToken cancel)
    {
        var counters = acknowledged.Counters();
        var wrong = new List<string>();
        var read = new List<string>();
        foreach (uint peer in peers)
        {
            string counter = DemoLoad.CounterOf(peer);
            long expected = counters.TryGetValue(counter, out var values) && values.Count > 0 ? values[^1] : 0;
            var answer = await reader.CallAsync($"GET {counter}", cancel);
            string want = expected == 0 ? "NOTFOUND" : $"VALUE {expected.ToString(CultureInfo.InvariantCulture)}";
            string got = answer?.Body ?? "(no answer)";
            read.Add($"{counter}={got.Replace("VALUE ", "", StringComparison.Ordinal)}");
            if (got != want) wrong.Add($"{counter}: GET says \"{got}\", last acknowledged INCR said {expected}");
        }
        return wrong.Count == 0
            ? DemoCheck.Pass("final GET of each counter equals its last acknowledged INCR", string.Join(", ", read))
            : DemoCheck.Fail("final GET of each counter equals its last acknowledged INCR", string.Join("; ", wrong));
    }

    public async Task<DemoCheck> PutsAsync(DemoAcknowledged acknowledged, CancellationToken cancel)
    {
        var latest = acknowledged.Latest();
        var wrong = new List<string>();
        foreach (var (key, value) in latest.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var answer = await reader.CallAsync($"GET {key}", cancel);
            string got = answer?.Body ?? "(no answer)";
            if (got != $"VALUE {value}") wrong.Add($"{key}: GET says \"{got}\", its last acknowledged PUT stored \"{value}\"");
        }
        const string name = "every acknowledged PUT is there: each key holds its last acknowledged value";
        if (latest.Count == 0) return DemoCheck.Fail(name, "no PUT was acknowledged, so nothing could be checked");
        return wrong.Count == 0
            ? DemoCheck.Pass(name, $"{latest.Count} keys read back, {acknowledged.PutCount} PUTs acknowledged")
            : DemoCheck.Fail(name, $"{wrong.Count} of {latest.Count} keys wrong, e.g. {string.Join("; ", wrong.Take(ShownMismatches))}");
    }

    /// <summary>Each client's acknowledged INCR values must be 1, 2, ..., N: a gap is a lost increment, a repeat a doubled one.</summary>
    public static DemoCheck Sequences(IReadOnlyList<uint> peers, DemoAcknowledged acknowledged)
    {
        const string name = "acknowledged INCR values per counter are exactly 1..N";
        var counters = acknowledged.Counters();
        var wrong = new List<string>();
        var ranges = new List<string>();
        foreach (uint peer in peers)
        {
            string counter = DemoLoad.CounterOf(peer);
            var values = counters.TryGetValue(counter, out var v) ? v : [];
            if (values.Count == 0)
            {
                wrong.Add($"{counter}: no INCR was acknowledged");
                continue;
            }
            int bad = Enumerable.Range(0, values.Count).FirstOrDefault(i => values[i] != i + 1, -1);
            if (bad < 0) ranges.Add($"{counter} 1..{values.Count}");
            else wrong.Add(bad == 0
                ? $"{counter}: first acknowledged value {values[0]}, expected 1"
                : $"{counter}: after {values[bad - 1]} came {values[bad]} (answer #{bad + 1})");
        }
        return wrong.Count == 0 ? DemoCheck.Pass(name, string.Join(", ", ranges)) : DemoCheck.Fail(name, string.Join("; ", wrong));
    }
}
