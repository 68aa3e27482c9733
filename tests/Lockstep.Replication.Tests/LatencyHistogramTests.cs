using System.Diagnostics;
using Lockstep.Replication.Stats;

namespace Lockstep.Replication.Tests;

public sealed class LatencyHistogramTests
{
    private static long Ticks(double ms) => (long)(ms * Stopwatch.Frequency / 1000);

    [Fact]
    public void Each_duration_lands_in_the_first_bucket_whose_bound_holds_it()
    {
        var histogram = new LatencyHistogram();
        histogram.RecordTicks(Ticks(0.01)); // bucket 0 (<= 0.05 ms)
        histogram.RecordTicks(Ticks(0.3));  // bucket 3 (<= 0.5 ms)
        histogram.RecordTicks(Ticks(0.3));
        histogram.RecordTicks(Ticks(9000)); // above the last bound: the open bucket
        histogram.RecordTicks(-5);          // a clock read out of order counts as 0
        var counts = histogram.Snapshot();
        Assert.Equal(LatencyHistogram.BoundsMs.Count + 1, counts.Counts.Length);
        Assert.Equal(2, counts.Counts[0]);
        Assert.Equal(2, counts.Counts[3]);
        Assert.Equal(1, counts.Counts[^1]);
        Assert.Equal(5, counts.Count);
        Assert.Equal(9000.61, counts.SumMs, 1);
    }

    [Fact]
    public void Many_threads_recording_at_once_lose_nothing()
    {
        var histogram = new LatencyHistogram();
        Parallel.For(0, 8, _ =>
        {
            for (int i = 0; i < 10_000; i++) histogram.RecordTicks(Ticks(i % 7));
        });
        Assert.Equal(80_000, histogram.Snapshot().Count);
    }

    [Fact]
    public void The_difference_of_two_readings_gives_the_interval_mean_and_p99_bound()
    {
        var histogram = new LatencyHistogram();
        histogram.RecordTicks(Ticks(400));
        var before = histogram.Snapshot();
        for (int i = 0; i < 99; i++) histogram.RecordTicks(Ticks(0.2));
        histogram.RecordTicks(Ticks(30));
        var interval = histogram.Snapshot().Since(before)!;
        Assert.Equal(100, interval.Count);
        Assert.Equal((99 * 0.2 + 30) / 100, interval.MeanMs!.Value, 2);
        Assert.Equal(0.25, interval.QuantileBoundMs(0.99));
        Assert.Equal(50, interval.QuantileBoundMs(1));
    }

    [Fact]
    public void A_reading_of_another_histogram_gives_no_difference_and_nothing_recorded_gives_no_figures()
    {
        var old = new LatencyHistogram();
        old.RecordTicks(Ticks(1));
        old.RecordTicks(Ticks(1));
        var fresh = new LatencyHistogram();
        fresh.RecordTicks(Ticks(1));
        Assert.Null(fresh.Snapshot().Since(old.Snapshot()));
        Assert.Null(LatencyCounts.Empty.MeanMs);
        Assert.Null(LatencyCounts.Empty.QuantileBoundMs(0.99));
    }
}
