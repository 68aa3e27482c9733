using System.Net;
using System.Text;
using System.Text.Json;

namespace Lockstep.Dashboard.Tests;

/// <summary>/metrics and the JSON endpoints of the dashboard, and their refusals, over plain HTTP.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardApiTests(DashboardCluster cluster, ITestOutputHelper output) : IDisposable
{
    private const string Vm = DashboardCluster.Vm;

    [Fact]
    public async Task Metrics_scraped_twice_under_load_show_the_figures_moving()
    {
        await WaitUntil(async () => (await Scrape(0))[$"lockstep_vm_state{{vm=\"{Vm}\",state=\"Protected\"}}"] == 1, "kv1 Protected in /metrics");
        int answered = cluster.Answered;
        var first = await Scrape(0);
        var firstNodes = await ScrapeAll();
        await Task.Delay(TimeSpan.FromSeconds(3));
        var second = await Scrape(0);
        var secondNodes = await ScrapeAll();
        output.WriteLine($"answers to the load meanwhile: {cluster.Answered - answered}");
        foreach (string name in new[] { "lockstep_vm_instructions", "lockstep_vm_outputs", "lockstep_vm_outputs_released" })
        {
            string series = $"{name}{{vm=\"{Vm}\"}}";
            output.WriteLine($"{series}: {first[series]} then {second[series]}");
            Assert.True(second[series] > first[series], $"{series} did not move: {first[series]} then {second[series]}");
        }
        Assert.True(second["lockstep_dashboard_last_poll_timestamp_seconds"] > first["lockstep_dashboard_last_poll_timestamp_seconds"]);
        Assert.True(second[$"lockstep_vm_log_bytes_per_second{{vm=\"{Vm}\"}}"] > 0, "no log bandwidth under load");
        Assert.Equal(1, second.Named("lockstep_node_vm_sides").Where(s => s.Key.Contains("role=\"primary\"", StringComparison.Ordinal)).Sum(s => s.Value));
        Assert.Equal(1, second.Named("lockstep_node_vm_sides").Where(s => s.Key.Contains("role=\"secondary\"", StringComparison.Ordinal)).Sum(s => s.Value));
        Assert.Equal(3, second["lockstep_cluster_members{status=\"Up\"}"]);

        // The primary's own counts: every released output was held (some for a while), and the secondary's attach took time.
        string holds = $"lockstep_vm_output_hold_seconds_count{{vm=\"{Vm}\"}}";
        output.WriteLine($"{holds}: {first[holds]} then {second[holds]}");
        Assert.True(second[holds] > first[holds], $"{holds} did not move: {first[holds]} then {second[holds]}");
        Assert.True(second[$"lockstep_vm_output_hold_seconds_sum{{vm=\"{Vm}\"}}"] > 0, "outputs held for no time at all");
        Assert.Equal(second[holds], second[$"lockstep_vm_output_hold_seconds_bucket{{vm=\"{Vm}\",le=\"+Inf\"}}"]);
        Assert.True(second[$"lockstep_vm_reprotect_duration_milliseconds{{vm=\"{Vm}\"}}"] > 0, "no re-protection duration for a Protected VM");
        // Each node's own: the primary's node writes the journal, both ends of the VM's link measure its round trip.
        double Sum(IEnumerable<PrometheusText> scrapes, string name) => scrapes.Sum(s => s.Named(name).Sum(series => series.Value));
        foreach (string name in new[] { "lockstep_node_journal_write_seconds_count", "lockstep_link_round_trip_seconds_count" })
        {
            output.WriteLine($"{name} (all nodes): {Sum(firstNodes, name)} then {Sum(secondNodes, name)}");
            Assert.True(Sum(secondNodes, name) > Sum(firstNodes, name), $"{name} did not move on any node");
        }
        Assert.Contains(secondNodes.SelectMany(s => s.Named("lockstep_link_last_round_trip_milliseconds")), series => series.Value > 0);
    }

    [Fact]
    public async Task The_vm_document_has_the_status_history_and_samples()
    {
        await WaitUntil(async () => (await Document(1)).GetProperty("samples").GetArrayLength() >= 2, "two samples of kv1");
        var document = await Document(1);
        var status = document.GetProperty("status");
        Assert.Equal(Vm, status.GetProperty("name").GetString());
        Assert.True(status.GetProperty("generation").GetInt64() >= 1);
        Assert.Equal(JsonValueKind.Array, document.GetProperty("history").ValueKind);
        Assert.Equal(3, document.GetProperty("members").GetArrayLength());
        Assert.True(status.GetProperty("figures").GetProperty("outputsReleased").GetUInt64() > 0);
    }

    [Theory]
    [InlineData("/api/vm/no-such-vm/failover", null, HttpStatusCode.NotFound, "UnknownVm")]
    [InlineData("/api/vm/kv1/no-such-operation", null, HttpStatusCode.NotFound, null)]
    [InlineData("/api/vm/kv1/migrate-secondary", null, HttpStatusCode.BadRequest, null)]
    [InlineData("/api/vm/kv1/migrate-secondary", "{not json", HttpStatusCode.BadRequest, null)]
    [InlineData("/api/vm/kv1/migrate-secondary", "[1]", HttpStatusCode.BadRequest, null)]
    [InlineData("/api/vm/kv1/migrate-secondary", "{\"node\": \"10.9.9.9:1\"}", HttpStatusCode.BadRequest, "UnknownNode")]
    public async Task A_refused_operation_answers_with_its_reason(string path, string? body, HttpStatusCode status, string? kind)
    {
        using var content = body is null ? null : new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await cluster.Http.PostAsync(DashboardCluster.Url(0, path), content);
        string text = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{(int)response.StatusCode} {text}");
        Assert.Equal(status, response.StatusCode);
        using var json = JsonDocument.Parse(text);
        Assert.False(json.RootElement.GetProperty("ok").GetBoolean());
        Assert.False(string.IsNullOrWhiteSpace(json.RootElement.GetProperty("error").GetString()));
        Assert.Equal(kind, json.RootElement.GetProperty("kind").GetString());
    }

    [Fact]
    public async Task The_status_of_an_unknown_vm_is_a_404()
    {
        using var response = await cluster.Http.GetAsync(DashboardCluster.Url(2, "/api/vm/no-such-vm"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("UnknownVm", json.RootElement.GetProperty("kind").GetString());
    }

    [Fact]
    public async Task A_node_whose_http_port_is_taken_exits_with_a_clear_error()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 5399);
        taken.Start();
        var (code, text) = await cluster.Cli(["node", "--port", "5310", "--http", "5399", "--journal", $"sqlite:{Path.Combine(cluster.Folder, "alone", "l.db")}"],
            TimeSpan.FromSeconds(60));
        output.WriteLine(text);
        Assert.Equal(65, code);
        Assert.Contains("cannot serve the dashboard on 127.0.0.1:5399", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_http_port_out_of_range_is_a_usage_error()
    {
        var (code, text) = await cluster.Cli(["node", "--port", "5311", "--http", "70000"], TimeSpan.FromSeconds(30));
        Assert.Equal(64, code);
        Assert.Contains("invalid --http port 70000", text, StringComparison.Ordinal);
    }

    public void Dispose() => output.WriteLine(cluster.Log);

    private async Task<PrometheusText> Scrape(int node)
    {
        using var response = await cluster.Http.GetAsync(DashboardCluster.Url(node, "/metrics"));
        response.EnsureSuccessStatusCode();
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }

    private async Task<PrometheusText[]> ScrapeAll() => await Task.WhenAll(Enumerable.Range(0, 3).Select(Scrape));

    private async Task<JsonElement> Document(int node)
    {
        string text = await cluster.Http.GetStringAsync(DashboardCluster.Url(node, $"/api/vm/{Vm}"));
        using var json = JsonDocument.Parse(text);
        return json.RootElement.Clone();
    }

    private static async Task WaitUntil(Func<Task<bool>> condition, string what)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            try
            {
                if (await condition()) return;
            }
            catch (Xunit.Sdk.XunitException) when (DateTime.UtcNow < until)
            {
                // The series is not there yet (no poll since the VM appeared).
            }
            if (DateTime.UtcNow > until) throw new Xunit.Sdk.XunitException($"{what}: not within 90 s");
            await Task.Delay(500);
        }
    }
}
