using Lockstep.Harness;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// `vm console --follow` as a user runs it, against real node processes: the chatter guest prints a numbered line
/// every 5 ms, and the follower's output must go on through a kill -9 of the primary's node without a repeated or
/// a missing line.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ConsoleTests(ProgramFixture program, ITestOutputHelper output)
{
    private const string Vm = "chatter";

    [Fact]
    public async Task Console_follow_goes_on_through_a_kill_of_the_primary_node_without_repeat_or_gap()
    {
        await using var cluster = new TestCluster(program, output, nameof(Console_follow_goes_on_through_a_kill_of_the_primary_node_without_repeat_or_gap), 5840);
        await cluster.StartNodes();
        var created = await cluster.Cli(["vm", "create", Vm, "--image", RepoRoot.Guest("chatter"), "--contact", cluster.Contact]);
        Assert.True(created.ExitCode == 0, $"vm create failed: {created}");
        var before = await cluster.WaitForStatus(Vm, s => s.State == "Protected" && s.Secondary is not null, TimeSpan.FromSeconds(40), "Protected");

        var unknown = await cluster.Cli(["vm", "console", "nope", "--contact", cluster.Contact]);
        Assert.Equal(65, unknown.ExitCode);

        using var follow = ChildProcess.Start(program.Program.StartInfo(cluster.Folder, ["vm", "console", Vm, "--follow", "--contact", cluster.Contact]),
            "vm console --follow", Path.Combine(cluster.Folder, "follow.out"));
        Assert.True(await follow.WaitForOutput(p => p.StdoutLines.Count >= 50, TimeSpan.FromSeconds(60), cluster.Cancel), $"no 50 lines followed: {follow.AllOutput}");
        int linesBefore = follow.StdoutLines.Count;
        cluster.KillNode(cluster.NodeAt(before.Primary));
        var survivors = cluster.Contacts.ToList();
        await cluster.WaitForStatus(Vm, s => s.Generation > before.Generation && survivors.Any(n => n.Endpoint == s.Primary),
            TimeSpan.FromSeconds(30), "a new primary on a surviving node", survivors);
        Assert.True(await follow.WaitForOutput(p => p.StdoutLines.Count >= linesBefore + 400, TimeSpan.FromSeconds(60), cluster.Cancel),
            $"the follower got no 400 lines after the kill: {follow.StdoutLines.Count - linesBefore}; stderr: {string.Join('\n', follow.StderrLines)}");
        string interrupt = ChildProcess.InterruptSignal;
        follow.Signal(interrupt);
        Assert.True(await follow.WaitForExit(TimeSpan.FromSeconds(20), cluster.Cancel), $"the follower did not end on SIG{interrupt}");
        Assert.Equal(0, follow.ExitCode);

        var lines = follow.StdoutLines;
        cluster.Log($"followed {lines.Count} lines ({linesBefore} before the kill), first '{lines[0]}', last '{lines[^1]}'; stderr: {string.Join(" | ", follow.StderrLines)}");
        // The first line may start in the middle when the ring had dropped the run's start already (stderr says so), and
        // the last may be cut by the interrupt; every line between is the successor of the one before.
        bool startKept = !follow.StderrLines.Any(l => l.Contains("no longer kept", StringComparison.Ordinal));
        if (startKept) Assert.Equal("chatter line 1", lines[0]);
        int next = int.Parse(lines[1]["chatter line ".Length..], System.Globalization.CultureInfo.InvariantCulture);
        for (int i = 1; i < lines.Count - 1; i++) Assert.Equal($"chatter line {next + i - 1}", lines[i]);
        Assert.StartsWith(lines[^1], $"chatter line {next + lines.Count - 2}", StringComparison.Ordinal);
        cluster.Passed();
    }
}
