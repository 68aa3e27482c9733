using System.Diagnostics;

namespace Lockstep.Replication.Stats;

/// <summary>
/// A histogram of durations in fixed buckets (<see cref="BoundsMs"/>), for the data path's hot threads: recording is
/// a few comparisons and two Interlocked adds, no lock and no allocation. Readers (the status, the metrics) take a
/// <see cref="Snapshot"/>, whose counts and sum are each exact but not read at one instant.
/// </summary>
public sealed class LatencyHistogram
{
    /// <summary>Upper bounds of the buckets in milliseconds, ascending; one more bucket above the last takes the rest.</summary>
    public static IReadOnlyList<double> BoundsMs { get; } =
        [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

    private static readonly long[] BoundTicks = BoundsMs.Select(ms => (long)(ms * Stopwatch.Frequency / 1000)).ToArray();

    private readonly long[] _counts = new long[BoundTicks.Length + 1];
    private long _sumTicks;

    /// <summary>Records the time since <paramref name="startTimestamp"/> (a <see cref="Stopwatch.GetTimestamp"/>).</summary>
    public void RecordSince(long startTimestamp) => RecordTicks(Stopwatch.GetTimestamp() - startTimestamp);

    /// <summary>Records a duration in <see cref="Stopwatch"/> ticks; a negative one (a clock read out of order) counts as 0.</summary>
    public void RecordTicks(long ticks)
    {
        if (ticks < 0) ticks = 0;
        int bucket = 0;
        while (bucket < BoundTicks.Length && ticks > BoundTicks[bucket]) bucket++;
        Interlocked.Increment(ref _counts[bucket]);
        Interlocked.Add(ref _sumTicks, ticks);
    }

    public LatencyCounts Snapshot()
    {
        var counts = new long[_counts.Length];
        for (int i = 0; i < counts.Length; i++) counts[i] = Volatile.Read(ref _counts[i]);
        return new LatencyCounts(counts, Interlocked.Read(ref _sumTicks) * 1000.0 / Stopwatch.Frequency);
    }
}
