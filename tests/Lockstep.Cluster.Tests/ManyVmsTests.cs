using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// Many protected VMs on three real nodes (127.0.0.1, .2, .3): one `vm create` of all, each VM counting requests over
/// plain UDP through the front doors, kill -9 of the node with the most primaries, then every VM answers again with
/// its count exact (nothing acknowledged lost, nothing done twice) and is Protected again away from the dead node.
/// Sized to finish in a few minutes on 2 cores.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ManyVmsTests(ProgramFixture program, ITestOutputHelper output)
{
    private const int Vms = 200;
    private const int FirstPort = 16100;
    private const int NodePort = 6150;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task Every_vm_answers_with_its_count_exact_and_is_protected_again_after_kill_9_of_the_node_with_the_most_primaries()
    {
        await using var cluster = new LoopbackCluster(program, output, nameof(ManyVmsTests), NodePort, limit: Limit);
        await cluster.StartNodes();
        var names = Enumerable.Range(0, Vms).Select(i => $"vm{i}").ToList();
        var created = await cluster.Cli(["vm", "create", .. names, "--image", program.KvImage, "--expose-from", FirstPort.ToString(CultureInfo.InvariantCulture),
            "--contact", cluster.Contact], timeout: TimeSpan.FromMinutes(4));
        Assert.True(created.ExitCode == 0, $"vm create of {Vms} failed: {created}");
        Assert.Equal(Vms, created.Stdout.Count(l => l.Contains(" created", StringComparison.Ordinal)));
        cluster.Log($"created {Vms} VMs");
        var before = await WaitForAllProtected(cluster, avoid: null, TimeSpan.FromMinutes(3));
        cluster.Log("every VM Protected: " + Placement(before));

        using var fleet = new UdpFleet(Vms, FirstPort);
        var everyNode = cluster.Nodes.Select(n => IPAddress.Parse(n.Host)).ToList();
        // Two counted requests each before the kill (the first also opens every front door route).
        for (int round = 1; round <= 2; round++)
            AssertCounts(fleet.AskAll($"b{round}", "INCR c", everyNode, TimeSpan.FromSeconds(60), cluster.Cancel).Answers, round, "before the kill");

        string victimEndpoint = before.GroupBy(v => v.Primary).OrderByDescending(g => g.Count()).First().Key!;
        var victim = cluster.NodeAt(victimEndpoint);
        int lostPrimaries = before.Count(v => v.Primary == victimEndpoint), lostSecondaries = before.Count(v => v.Secondary == victimEndpoint);
        cluster.KillNode(victim);
        var survivors = cluster.Nodes.Where(n => n != victim).Select(n => IPAddress.Parse(n.Host)).ToList();
        var (answers, waits) = fleet.AskAll("a1", "INCR c", survivors, TimeSpan.FromSeconds(90), cluster.Cancel);
        AssertCounts(answers, 3, "right after the kill");
        var sorted = waits.Order().ToList();
        cluster.Log($"kill -9 of {victim} ({lostPrimaries} primaries, {lostSecondaries} secondaries there): every VM answered again, " +
            $"p50 {sorted[Vms / 2].TotalMilliseconds:F0} ms, max {sorted[^1].TotalMilliseconds:F0} ms");

        var after = await WaitForAllProtected(cluster, avoid: victimEndpoint, TimeSpan.FromMinutes(3));
        cluster.Log("every VM Protected again: " + Placement(after));
        Assert.All(after, v => Assert.True(v.Generation > 1 || before.Single(b => b.Name == v.Name).Primary != victimEndpoint,
            $"{v.Name} had its primary on {victimEndpoint} and is still at generation {v.Generation}"));
        // Protected again means the new secondaries hold the state: the next request is counted once more.
        AssertCounts(fleet.AskAll("a2", "INCR c", survivors, TimeSpan.FromSeconds(60), cluster.Cancel).Answers, 4, "once Protected again");
        cluster.Passed();
    }

    private static void AssertCounts(string[] answers, int expected, string when)
    {
        var wrong = answers.Select((a, i) => (a, i)).Where(x => x.a != expected.ToString(CultureInfo.InvariantCulture)).ToList();
        Assert.True(wrong.Count == 0,
            $"{when}: {wrong.Count} VMs did not count {expected}: " + string.Join(", ", wrong.Take(10).Select(x => $"vm{x.i} answered '{x.a}'")));
    }

    private sealed record Listed(string Name, string? State, long Generation, string? Primary, string? Secondary);

    /// <summary>Polls `vm list --json` until every VM is Protected with both sides on live nodes other than <paramref name="avoid"/>.</summary>
    private static async Task<IReadOnlyList<Listed>> WaitForAllProtected(TestCluster cluster, string? avoid, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        string last = "no list yet";
        while (DateTime.UtcNow < deadline)
        {
            var list = await cluster.TryCli(["vm", "list", "--json", "--contact", cluster.Contact], null, TimeSpan.FromSeconds(60));
            if (list is { ExitCode: 0 })
            {
                var vms = Parse(string.Join("\n", list.Stdout));
                bool done = vms.Count == Vms && vms.All(v => v.State == "Protected" && v.Primary != v.Secondary && v.Primary != avoid && v.Secondary != avoid);
                if (done) return vms;
                last = string.Join(", ", vms.GroupBy(v => v.State ?? "no status").Select(g => $"{g.Key}: {g.Count()}"));
                if (avoid is not null) last += $"; {vms.Count(v => v.Primary == avoid || v.Secondary == avoid)} still on {avoid}";
            }
            else if (list is not null) last = list.ToString();
            await Task.Delay(1000, cluster.Cancel);
        }
        throw new TimeoutException($"not every VM was Protected{(avoid is null ? "" : $" away from {avoid}")} within {within.TotalSeconds:0} s: {last}");
    }

    private static List<Listed> Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.EnumerateArray().Select(vm => new Listed(
            vm.GetProperty("name").GetString()!,
            vm.TryGetProperty("state", out var state) && state.ValueKind == JsonValueKind.String ? state.GetString() : null,
            vm.TryGetProperty("generation", out var generation) && generation.ValueKind == JsonValueKind.Number ? generation.GetInt64() : 0,
            vm.TryGetProperty("primary", out var primary) && primary.ValueKind == JsonValueKind.String ? primary.GetString() : null,
            vm.TryGetProperty("secondary", out var secondary) && secondary.ValueKind == JsonValueKind.String ? secondary.GetString() : null)).ToList();
    }

    private static string Placement(IReadOnlyList<Listed> vms)
    {
        var nodes = vms.Select(v => v.Primary).Concat(vms.Select(v => v.Secondary)).Where(n => n is not null).Distinct().Order();
        return string.Join("; ", nodes.Select(n => $"{n}: {vms.Count(v => v.Primary == n)} primaries, {vms.Count(v => v.Secondary == n)} secondaries"));
    }
}
