namespace Lockstep.Dashboard.Tests;

public sealed class VmSeriesTests
{
    private static readonly DateTime Start = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void Rates_come_from_the_change_between_two_polls()
    {
        var series = new VmSeries(10);
        var first = series.Add(Start, Statuses.Of("a", 1_000_000, 100, 98));
        var second = series.Add(Start.AddSeconds(2), Statuses.Of("a", 5_000_000, 160, 160));
        Assert.Null(first.OutputsPerSecond);
        Assert.Null(first.MipsRate);
        Assert.Equal(2UL, first.OutputsHeld);
        Assert.Equal(30, second.OutputsPerSecond);
        Assert.Equal(2, second.MipsRate);
        Assert.Equal(0UL, second.OutputsHeld);
    }

    [Fact]
    public void Output_latency_is_what_the_hold_histogram_gained_between_two_polls_and_none_across_a_failover()
    {
        var series = new VmSeries(10);
        series.Add(Start, Statuses.Of("a", 1000, 10, 10, hold: Statuses.Hold(2, 10)));
        // 100 more outputs: 99 at most 0.05 ms, one in the 0.25-0.5 ms bucket, 4 ms more in all.
        var later = series.Add(Start.AddSeconds(1), Statuses.Of("a", 2000, 110, 110, hold: Statuses.Hold(6, 109, 0, 0, 1)));
        Assert.Equal(0.04, later.OutputLatencyMs!.Value, 6);
        Assert.Equal(0.05, later.OutputLatencyP99Ms);
        var promoted = series.Add(Start.AddSeconds(2), Statuses.Of("a", 3000, 120, 120, generation: 2, hold: Statuses.Hold(7, 200, 0, 0, 1)));
        Assert.Null(promoted.OutputLatencyMs);
        var idle = series.Add(Start.AddSeconds(3), Statuses.Of("a", 3000, 120, 120, generation: 2, hold: Statuses.Hold(7, 200, 0, 0, 1)));
        Assert.Null(idle.OutputLatencyMs);
    }

    [Fact]
    public void A_missed_poll_gives_the_next_sample_no_rate()
    {
        var series = new VmSeries(10);
        series.Add(Start, Statuses.Of("a", 1000, 10, 10));
        series.Missed();
        var after = series.Add(Start.AddSeconds(5), Statuses.Of("a", 9000, 90, 90));
        Assert.Null(after.OutputsPerSecond);
        Assert.NotNull(series.Latest);
        Assert.Equal(2, series.Samples.Count);
    }

    [Fact]
    public void A_counter_that_went_back_gives_no_rate_rather_than_a_negative_one()
    {
        var series = new VmSeries(10);
        series.Add(Start, Statuses.Of("a", 9000, 90, 90));
        var after = series.Add(Start.AddSeconds(1), Statuses.Of("a", 8000, 80, 80));
        Assert.Null(after.OutputsPerSecond);
        Assert.Null(after.MipsRate);
    }

    [Fact]
    public void Only_the_last_capacity_samples_are_kept()
    {
        var series = new VmSeries(3);
        for (int i = 0; i < 5; i++) series.Add(Start.AddSeconds(i), Statuses.Of("a", (ulong)i, (ulong)i, (ulong)i));
        Assert.Equal([Start.AddSeconds(2), Start.AddSeconds(3), Start.AddSeconds(4)], series.Samples.Select(s => s.At));
    }

    [Fact]
    public void No_figures_means_no_held_count()
    {
        var series = new VmSeries(3);
        var sample = series.Add(Start, Statuses.Of("a", 1, 1, 1) with { Figures = null });
        Assert.Null(sample.OutputsHeld);
    }
}
