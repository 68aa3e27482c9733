using Lockstep.Actors.Protocol;
using Prometheus;

namespace Lockstep.Dashboard.Tests;

public sealed class DashboardMetricsTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_poll_sets_the_vm_figures_failovers_by_kind_and_sides_per_node()
    {
        var metrics = new DashboardMetrics(Metrics.NewCustomRegistry());
        var status = Statuses.Of("kv", 5000, 40, 37, generation: 3,
            history: [Statuses.Failover(180), Statuses.Failover(0), Statuses.Failover(250), Statuses.Operation()]);
        metrics.Update(Snapshot(new VmEntry("kv", status, new VmSeries(2).Add(DateTime.UtcNow, status), null)));
        var scrape = await Scrape(metrics);
        Assert.Equal(1, scrape["lockstep_vm_state{vm=\"kv\",state=\"Protected\"}"]);
        Assert.Equal(0, scrape["lockstep_vm_state{vm=\"kv\",state=\"NotProtected\"}"]);
        Assert.Equal(3, scrape["lockstep_vm_generation{vm=\"kv\"}"]);
        Assert.Equal(3, scrape["lockstep_vm_outputs_held{vm=\"kv\"}"]);
        Assert.Equal(2, scrape["lockstep_vm_failovers{vm=\"kv\",kind=\"primary\"}"]);
        Assert.Equal(1, scrape["lockstep_vm_failovers{vm=\"kv\",kind=\"secondary\"}"]);
        Assert.Equal(1, scrape["lockstep_vm_operations{vm=\"kv\"}"]);
        Assert.Equal(250, scrape["lockstep_vm_last_failover_gap_milliseconds{vm=\"kv\"}"]);
        Assert.Equal(2.5, scrape["lockstep_vm_reprotect_pause_milliseconds{vm=\"kv\"}"]);
        Assert.Equal(4096, scrape["lockstep_vm_log_shipped_bytes{vm=\"kv\"}"]);
        Assert.Equal(1, scrape["lockstep_node_vm_sides{node=\"127.0.0.1:1\",role=\"primary\"}"]);
        Assert.Equal(0, scrape["lockstep_node_vm_sides{node=\"127.0.0.1:1\",role=\"secondary\"}"]);
    }

    [Fact]
    public async Task A_vm_that_is_gone_loses_its_series()
    {
        var metrics = new DashboardMetrics(Metrics.NewCustomRegistry());
        metrics.Update(Snapshot(new VmEntry("a", Statuses.Of("a", 1, 1, 1), null, null), new VmEntry("b", Statuses.Of("b", 1, 1, 1), null, null)));
        metrics.Update(Snapshot(new VmEntry("b", Statuses.Of("b", 2, 2, 2), null, null)));
        var scrape = await Scrape(metrics);
        Assert.DoesNotContain(scrape.Named("lockstep_vm_generation"), s => s.Key.Contains("vm=\"a\"", StringComparison.Ordinal));
        Assert.Equal(2, scrape["lockstep_vm_instructions{vm=\"b\"}"]);
    }

    [Fact]
    public async Task A_failed_poll_is_counted_and_keeps_the_last_figures()
    {
        var metrics = new DashboardMetrics(Metrics.NewCustomRegistry());
        metrics.Update(Snapshot(new VmEntry("a", Statuses.Of("a", 7, 1, 1), null, null)));
        metrics.Update(Snapshot(new VmEntry("a", Statuses.Of("a", 7, 1, 1), null, new ControlError("no primary", ControlErrorKind.Unavailable))));
        metrics.Update(new ClusterSnapshot(DateTime.UtcNow, "127.0.0.1:1", [], [], "the gateway did not answer"));
        var scrape = await Scrape(metrics);
        Assert.Equal(1, scrape["lockstep_dashboard_poll_errors_total{what=\"status\"}"]);
        Assert.Equal(1, scrape["lockstep_dashboard_poll_errors_total{what=\"list\"}"]);
        Assert.Equal(7, scrape["lockstep_vm_instructions{vm=\"a\"}"]);
    }

    [Fact]
    public async Task The_output_hold_histogram_is_written_cumulative_in_seconds_with_the_reprotect_duration()
    {
        var metrics = new DashboardMetrics(Metrics.NewCustomRegistry());
        var status = Statuses.Of("kv", 10, 6, 6, hold: Statuses.Hold(1.0, 1, 2, 3));
        metrics.Update(Snapshot(new VmEntry("kv", status, null, null)));
        var text = new System.Text.StringBuilder();
        metrics.WriteHistograms(text);
        output.WriteLine(text.ToString());
        Assert.Contains("# TYPE lockstep_vm_output_hold_seconds histogram", text.ToString());
        var scrape = PrometheusText.Parse(text.ToString());
        Assert.Equal(1, scrape["lockstep_vm_output_hold_seconds_bucket{vm=\"kv\",le=\"5E-05\"}"]);
        Assert.Equal(3, scrape["lockstep_vm_output_hold_seconds_bucket{vm=\"kv\",le=\"0.0001\"}"]);
        Assert.Equal(6, scrape["lockstep_vm_output_hold_seconds_bucket{vm=\"kv\",le=\"0.00025\"}"]);
        Assert.Equal(6, scrape["lockstep_vm_output_hold_seconds_bucket{vm=\"kv\",le=\"+Inf\"}"]);
        Assert.Equal(6, scrape["lockstep_vm_output_hold_seconds_count{vm=\"kv\"}"]);
        Assert.Equal(0.001, scrape["lockstep_vm_output_hold_seconds_sum{vm=\"kv\"}"], 9);
        Assert.Equal(180, (await Scrape(metrics))["lockstep_vm_reprotect_duration_milliseconds{vm=\"kv\"}"]);

        metrics.Update(Snapshot());
        var gone = new System.Text.StringBuilder();
        metrics.WriteHistograms(gone);
        Assert.DoesNotContain("vm=\"kv\"", gone.ToString());
    }

    private static ClusterSnapshot Snapshot(params VmEntry[] vms) =>
        new(DateTime.UtcNow, "127.0.0.1:1", vms,
            [new MemberView("127.0.0.1:1", "Up", [], true, true, true, vms.Count(v => v.Status?.Primary == "127.0.0.1:1"), 0)], null);

    private static async Task<PrometheusText> Scrape(DashboardMetrics metrics)
    {
        using var text = new MemoryStream();
        await metrics.Registry.CollectAndExportAsTextAsync(text);
        return PrometheusText.Parse(System.Text.Encoding.UTF8.GetString(text.ToArray()));
    }
}
