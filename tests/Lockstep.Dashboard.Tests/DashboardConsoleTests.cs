using System.Net;
using System.Text;
using System.Text.Json;

namespace Lockstep.Dashboard.Tests;

/// <summary>The VM page's console and its JSON endpoint: kv1's guest says "kv: ready" on its console when it starts.</summary>
[Collection(DashboardCollection.Name)]
public sealed class DashboardConsoleTests(DashboardCluster cluster, ITestOutputHelper output) : IDisposable
{
    private const string Vm = DashboardCluster.Vm;

    [Fact]
    public async Task The_vm_page_shows_the_guest_console_and_the_endpoint_gives_it_with_offsets()
    {
        var browser = cluster.Browser;
        browser.Open(DashboardCluster.Url(1, $"/vm/{Vm}"));
        await browser.Eventually(() => browser.TextOf("#console")?.Contains("kv: ready", StringComparison.Ordinal) == true,
            "the console shows kv: ready", TimeSpan.FromSeconds(60));

        using var piece = JsonDocument.Parse(await cluster.Http.GetStringAsync(DashboardCluster.Url(0, $"/api/vm/{Vm}/console")));
        var root = piece.RootElement;
        output.WriteLine(root.ToString());
        Assert.Equal(0UL, root.GetProperty("start").GetUInt64());
        Assert.StartsWith("kv: ready\n", root.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal(root.GetProperty("text").GetString(), Encoding.UTF8.GetString(Convert.FromBase64String(root.GetProperty("base64").GetString()!)));
        ulong end = root.GetProperty("end").GetUInt64();
        Assert.Equal(end, root.GetProperty("next").GetUInt64());

        using var rest = JsonDocument.Parse(await cluster.Http.GetStringAsync(DashboardCluster.Url(2, $"/api/vm/{Vm}/console?from=4")));
        Assert.Equal(4UL, rest.RootElement.GetProperty("start").GetUInt64());
        Assert.StartsWith("ready\n", rest.RootElement.GetProperty("text").GetString(), StringComparison.Ordinal);
        using var last = JsonDocument.Parse(await cluster.Http.GetStringAsync(DashboardCluster.Url(2, $"/api/vm/{Vm}/console?last=6")));
        Assert.EndsWith("ready\n", last.RootElement.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/vm/nope/console", HttpStatusCode.NotFound)]
    [InlineData("/api/vm/kv1/console?from=abc", HttpStatusCode.BadRequest)]
    [InlineData("/api/vm/kv1/console?last=0", HttpStatusCode.BadRequest)]
    [InlineData("/api/vm/kv1/console?from=0&last=10", HttpStatusCode.BadRequest)]
    public async Task A_bad_console_request_is_refused_with_a_reason(string path, HttpStatusCode expected)
    {
        using var response = await cluster.Http.GetAsync(DashboardCluster.Url(0, path));
        string body = await response.Content.ReadAsStringAsync();
        output.WriteLine(body);
        Assert.Equal(expected, response.StatusCode);
        using var refusal = JsonDocument.Parse(body);
        Assert.False(string.IsNullOrWhiteSpace(refusal.RootElement.GetProperty("error").GetString()));
    }

    public void Dispose() => output.WriteLine(cluster.Log);
}
