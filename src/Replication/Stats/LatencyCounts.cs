namespace Lockstep.Replication.Stats;

/// <summary>
/// A <see cref="LatencyHistogram"/> read at one moment: <paramref name="Counts"/>[i] durations fell in bucket i (at most
/// <see cref="LatencyHistogram.BoundsMs"/>[i] and above the bound before; the last bucket has no upper bound), and
/// <paramref name="SumMs"/> is their total. Counts only grow while the histogram lives.
/// </summary>
public sealed record LatencyCounts(long[] Counts, double SumMs)
{
    public static LatencyCounts Empty { get; } = new(new long[LatencyHistogram.BoundsMs.Count + 1], 0);

    public long Count => Counts.Sum();

    /// <summary>
    /// What was recorded after <paramref name="earlier"/> was read; null when that is not an earlier reading of the
    /// same histogram (a count went back: a failover started a new one).
    /// </summary>
    public LatencyCounts? Since(LatencyCounts earlier)
    {
        if (earlier.Counts.Length != Counts.Length) return null;
        var counts = new long[Counts.Length];
        for (int i = 0; i < counts.Length; i++)
        {
            counts[i] = Counts[i] - earlier.Counts[i];
            if (counts[i] < 0) return null;
        }
        return new LatencyCounts(counts, Math.Max(0, SumMs - earlier.SumMs));
    }

    /// <summary>The mean duration in milliseconds; null with nothing recorded.</summary>
    public double? MeanMs => Count == 0 ? null : SumMs / Count;

    /// <summary>
    /// The upper bound (ms) of the bucket holding the <paramref name="quantile"/> (0-1): the true value is at most this
    /// and above the bound before. In the open last bucket: the last bound (a floor, not a ceiling). Null with nothing recorded.
    /// </summary>
    public double? QuantileBoundMs(double quantile)
    {
        long total = Count;
        if (total == 0) return null;
        long rank = (long)Math.Ceiling(quantile * total);
        long seen = 0;
        for (int i = 0; i < Counts.Length; i++)
        {
            seen += Counts[i];
            if (seen >= rank && Counts[i] > 0) return LatencyHistogram.BoundsMs[Math.Min(i, LatencyHistogram.BoundsMs.Count - 1)];
        }
        return LatencyHistogram.BoundsMs[^1];
    }
}
