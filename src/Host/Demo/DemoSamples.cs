namespace Lockstep.Host.Demo;

/// <summary>Every answered request of the load, for the live figures (ops/s, latency percentiles) and the client-visible gap.</summary>
public sealed class DemoSamples
{
    private readonly List<DemoAnswer> _answers = [];
    private readonly Lock _lock = new();

    public void Add(DemoAnswer answer)
    {
        lock (_lock) _answers.Add(answer);
    }

    public int Count
    {
        get
        {
            lock (_lock) return _answers.Count;
        }
    }

    /// <summary>The answers that arrived in [<paramref name="fromMs"/>, <paramref name="toMs"/>).</summary>
    public List<DemoAnswer> Between(double fromMs, double toMs)
    {
        lock (_lock) return _answers.Where(a => a.AnsweredAtMs >= fromMs && a.AnsweredAtMs < toMs).ToList();
    }

    /// <summary>
    /// The longest stretch in [<paramref name="fromMs"/>, <paramref name="toMs"/>] in which no client got any
    /// answer, with where it began. The stretch may start before <paramref name="fromMs"/>, at the last answer before it.
    /// </summary>
    public (double Ms, double StartMs) LongestSilence(double fromMs, double toMs)
    {
        List<double> times;
        lock (_lock) times = _answers.Select(a => a.AnsweredAtMs).Where(t => t <= toMs).Order().ToList();
        int first = times.FindLastIndex(t => t < fromMs);
        if (first < 0) first = 0;
        double longest = 0, startMs = fromMs;
        for (int i = first + 1; i < times.Count; i++)
        {
            double gap = times[i] - times[i - 1];
            if (gap > longest) (longest, startMs) = (gap, times[i - 1]);
        }
        // Silence that is still going on at the end counts too.
        if (times.Count > 0 && toMs - times[^1] > longest) (longest, startMs) = (toMs - times[^1], times[^1]);
        return (longest, startMs);
    }

    /// <summary>From the last answer before <paramref name="atMs"/> to the first one after it; null when either is missing.</summary>
    public double? SilenceAcross(double atMs)
    {
        lock (_lock)
        {
            var before = _answers.Where(a => a.AnsweredAtMs < atMs).Select(a => a.AnsweredAtMs).DefaultIfEmpty(double.NaN).Max();
            var after = _answers.Where(a => a.AnsweredAtMs >= atMs).Select(a => a.AnsweredAtMs).DefaultIfEmpty(double.NaN).Min();
            return double.IsNaN(before) || double.IsNaN(after) ? null : after - before;
        }
    }

    /// <summary>The <paramref name="quantile"/> of the latencies (ms), NaN when there are none.</summary>
    public static double Percentile(IReadOnlyCollection<DemoAnswer> answers, double quantile)
    {
        if (answers.Count == 0) return double.NaN;
        var sorted = answers.Select(a => a.LatencyMs).Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(quantile * sorted.Count))];
    }
}
