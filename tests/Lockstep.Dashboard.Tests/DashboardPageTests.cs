using System.Net;

namespace Lockstep.Dashboard.Tests;

/// <summary>The dashboard pages in a real browser, on a real three-node cluster with a kv VM under load.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardPageTests(DashboardCluster cluster, ITestOutputHelper output) : IDisposable
{
    private const string Vm = DashboardCluster.Vm;
    private Browser Browser => cluster.Browser;

    [Fact]
    public async Task Overview_shows_the_vm_protected_and_every_member_with_its_sides()
    {
        Browser.Open(DashboardCluster.Url(0));
        await Browser.Eventually(() => Browser.TextOf($"#vms tr[data-vm='{Vm}'] .state") == "Protected", "kv1 shown as Protected", TimeSpan.FromSeconds(60));
        await Browser.Eventually(() => Browser.FindAll("#members tbody tr").Count == 3, "three members listed");
        await Browser.Eventually(() => Sum("#members .primaries") == 1 && Sum("#members .secondaries") == 1,
            "one primary and one secondary counted over the members");
        string primary = Browser.TextOf($"#vms tr[data-vm='{Vm}'] .primary")!;
        string secondary = Browser.TextOf($"#vms tr[data-vm='{Vm}'] .secondary")!;
        Assert.NotEqual(primary, secondary);
        Assert.Equal("1", Browser.TextOf($"#members tr[data-node='{primary}'] .primaries"));
        Assert.Equal("1", Browser.TextOf($"#members tr[data-node='{secondary}'] .secondaries"));
        await Browser.Eventually(() => Browser.TextOf($"#vms tr[data-vm='{Vm}'] .rps") is { } rps && rps != "-" && double.Parse(rps) > 0,
            "requests per second above 0 under load");
        Browser.Screenshot("dashboard-overview.png");
    }

    [Fact]
    public async Task Test_failover_pressed_on_the_page_shows_the_new_primary_and_a_history_entry()
    {
        Browser.Open(DashboardCluster.Url(2, $"/vm/{Vm}"));
        await WaitProtected();
        await Browser.Eventually(() => Points("#chart-interval") >= 3 && Points("#chart-throughput") >= 3, "the charts have data points");
        // Under the load outputs are released between every two polls: each such poll gives an output latency point.
        await Browser.Eventually(() => Points("#chart-latency") >= 2, "the output latency chart has data points");
        string before = Browser.TextOf("#primary")!;
        int failovers = Browser.FindAll("#history tr[data-kind='Failover']").Count;
        output.WriteLine($"primary before: {before}; {failovers} failovers in the history");

        Browser.ClickAndConfirm("button[data-op='failover']");
        await Browser.Eventually(() => Browser.Find("#answer").GetAttribute("class") == "ok", "the failover's answer shown as accepted");
        await Browser.Eventually(() => Browser.TextOf("#primary") is { } now && now != before && now != "-", "a new primary shown", TimeSpan.FromSeconds(30));
        await Browser.Eventually(() => Browser.FindAll("#history tr[data-kind='Failover']").Count > failovers, "a failover entry in the history");
        string entry = Browser.TextOf("#history tbody tr[data-kind='Failover']")!;
        output.WriteLine($"primary after: {Browser.TextOf("#primary")}; history: {entry}");
        Assert.Contains("primary lost", entry, StringComparison.Ordinal);
        await WaitProtected(TimeSpan.FromSeconds(90));
        await Browser.Eventually(() => Points("#chart-interval") >= 5, "the charts keep their points across the failover");
        Browser.Screenshot("dashboard-vm.png");
    }

    [Fact]
    public async Task Migrating_the_secondary_to_the_chosen_node_moves_it()
    {
        Browser.Open(DashboardCluster.Url(1, $"/vm/{Vm}"));
        await WaitProtected(TimeSpan.FromSeconds(90));
        string primary = Browser.TextOf("#primary")!, secondary = Browser.TextOf("#secondary")!;
        string target = Enumerable.Range(0, 3).Select(DashboardCluster.Endpoint).Single(n => n != primary && n != secondary);
        new OpenQA.Selenium.Support.UI.SelectElement(Browser.Find("#migrate-node")).SelectByValue(target);
        Browser.Find("button[data-op='migrate-secondary']").Click();
        await Browser.Eventually(() => Browser.Find("#answer").GetAttribute("class") == "ok", "the migration accepted");
        await Browser.Eventually(() => Browser.TextOf("#secondary") == target && Browser.TextOf("#state") == "Protected",
            $"the secondary on {target}, Protected", TimeSpan.FromSeconds(90));
        await Browser.Eventually(() => Browser.FindAll("#history tr[data-kind='Operation']").Count > 0, "the migration in the history");
    }

    [Fact]
    public async Task A_failing_operation_shows_its_error_on_the_page()
    {
        Browser.Open(DashboardCluster.Url(0, $"/vm/{Vm}"));
        await WaitProtected(TimeSpan.FromSeconds(90));
        string primary = Browser.TextOf("#primary")!;
        // Moving the secondary onto the primary's own node is refused by the VM's coordinator.
        new OpenQA.Selenium.Support.UI.SelectElement(Browser.Find("#migrate-node")).SelectByValue(primary);
        Browser.Find("button[data-op='migrate-secondary']").Click();
        await Browser.Eventually(() => Browser.Find("#answer").GetAttribute("class") == "error", "the refusal shown as an error");
        string answer = Browser.TextOf("#answer")!;
        output.WriteLine(answer);
        Assert.Contains("refused (Invalid)", answer, StringComparison.Ordinal);
        Assert.Contains(primary, answer, StringComparison.Ordinal);
        Browser.Screenshot("dashboard-vm-error.png");
    }

    [Fact]
    public async Task An_unknown_vm_page_is_a_clear_404()
    {
        using var response = await cluster.Http.GetAsync(DashboardCluster.Url(1, "/vm/no-such-vm"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("no-such-vm", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Browser.Open(DashboardCluster.Url(1, "/vm/no-such-vm"));
        Assert.Equal("No VM named no-such-vm", Browser.TextOf("#not-found"));
        Assert.Contains("unknown VM", Browser.TextOf("#reason"), StringComparison.OrdinalIgnoreCase);
        Browser.Screenshot("dashboard-not-found.png");
    }

    [Fact]
    public async Task A_status_of_an_earlier_generation_is_not_shown_over_a_newer_one_unless_it_is_much_later()
    {
        Browser.Open(DashboardCluster.Url(1, $"/vm/{Vm}"));
        await WaitProtected(TimeSpan.FromSeconds(90));
        // The page's own renderer is given the VM's current status as the old primary would answer a poll after a failover:
        // one generation back, naming another primary. All in one turn of the page's script, so no live update comes between.
        var seen = (IReadOnlyList<object>)Browser.RunAsync("""
            const done = arguments[arguments.length - 1];
            fetch(`/api/vm/${encodeURIComponent(vmName)}`).then(r => r.json()).then(doc => {
              renderStatus(doc);
              const shownNow = () => [document.getElementById("generation").textContent, document.getElementById("primary").textContent];
              const before = shownNow();
              const old = structuredClone(doc);
              old.status.generation = doc.status.generation - 1;
              old.status.primary = "old-primary:1";
              renderStatus(old);
              const afterStale = shownNow();
              old.at = new Date(Date.parse(doc.at) + 60000).toISOString();
              renderStatus(old);
              done([...before, ...afterStale, ...shownNow()]);
            });
            """)!;
        var texts = seen.Select(o => (string)o).ToList();
        output.WriteLine(string.Join(" | ", texts));
        Assert.NotEqual("old-primary:1", texts[1]);
        Assert.Equal(texts[0..2], texts[2..4]); // the stale one changed nothing
        Assert.Equal([(int.Parse(texts[0]) - 1).ToString(System.Globalization.CultureInfo.InvariantCulture), "old-primary:1"], texts[4..6]); // a minute later it is news
    }

    public void Dispose() => output.WriteLine(cluster.Log);

    private async Task WaitProtected(TimeSpan? timeout = null) =>
        await Browser.Eventually(() => Browser.TextOf("#state") == "Protected", "the VM shown as Protected", timeout ?? TimeSpan.FromSeconds(60));

    private int Points(string canvas) => int.TryParse(Browser.Find(canvas).GetAttribute("data-points"), out int n) ? n : 0;

    private int Sum(string css) => Browser.FindAll(css).Sum(e => int.TryParse(e.Text, out int n) ? n : 0);
}
