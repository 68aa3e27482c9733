using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Lockstep.Harness;

namespace Lockstep.Demo.Tests;

/// <summary>
/// `lockstep demo` end to end, as a user runs it but with its output piped: three real nodes, the primary's
/// node killed under load, and the demo's own checks. The program under test is the build the `lockstep`
/// script makes, run in place; this project uses only the harness to build and start it.
/// </summary>
public sealed partial class DemoTests(ITestOutputHelper log)
{
    private static readonly TimeSpan DemoLimit = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Demo_fails_over_under_load_and_its_checks_hold()
    {
        // No LOCKSTEP_HOCON: the demo finds the repository's configuration above its build by itself.
        var program = new LockstepProgram(Path.Combine(LockstepProgram.Build(), "lockstep.dll"), hoconFolder: null);
        using var demo = ChildProcess.Start(program.StartInfo(RepoRoot.Folder, ["demo", "--base-port", "5100"]), "lockstep demo");
        bool ended = await demo.WaitForExit(DemoLimit, CancellationToken.None);
        // The demo's own cleanup cannot run after SIGKILL, so its nodes (its descendants) go with it.
        if (!ended) demo.Kill();
        log.WriteLine(demo.AllOutput);
        string stdout = string.Join("\n", demo.StdoutLines);

        Assert.True(ended, $"the demo did not finish within {DemoLimit.TotalMinutes:0} minutes");
        Assert.True(demo.ExitCode == 0, $"the demo exited with {demo.ExitCode}:\n{demo.AllOutput}");
        Assert.Contains("Summary", stdout);
        Assert.Contains("failover gap (client)", stdout);
        Assert.Contains("result: PASS", stdout);

        // The demo promises to leave nothing behind: its nodes and its working folder must be gone.
        foreach (Match node in NodePid().Matches(stdout))
            Assert.False(IsRunning(int.Parse(node.Groups[1].Value)), $"node process {node.Groups[1].Value} outlived the demo");
        var folder = WorkingFolder().Match(stdout);
        Assert.True(folder.Success, "the demo did not name its working folder");
        Assert.False(Directory.Exists(folder.Groups[1].Value), $"{folder.Groups[1].Value} outlived the demo");
    }

    [Fact]
    public async Task A_kept_demo_leaves_its_events_and_every_answer_beside_the_node_logs()
    {
        var program = new LockstepProgram(Path.Combine(LockstepProgram.Build(), "lockstep.dll"), hoconFolder: null);
        using var demo = ChildProcess.Start(program.StartInfo(RepoRoot.Folder,
            ["demo", "--base-port", "5140", "--keep", "--load-seconds", "4", "--after-seconds", "2"]), "lockstep demo --keep");
        bool ended = await demo.WaitForExit(DemoLimit, CancellationToken.None);
        if (!ended) demo.Kill();
        log.WriteLine(demo.AllOutput);
        string stdout = string.Join("\n", demo.StdoutLines);
        var folder = WorkingFolder().Match(stdout);
        Assert.True(folder.Success, "the demo did not name its working folder");
        string kept = folder.Groups[1].Value;
        try
        {
            Assert.True(ended, $"the demo did not finish within {DemoLimit.TotalMinutes:0} minutes");
            Assert.True(demo.ExitCode == 0, $"the demo exited with {demo.ExitCode}:\n{demo.AllOutput}");
            Assert.Equal(3, Directory.GetFiles(kept, "node-*.log").Length);

            string kill = Assert.Single(File.ReadAllLines(Path.Combine(kept, "events.txt")), line => line.Contains("SIGKILL to node", StringComparison.Ordinal));
            var killedAt = DateTime.Parse(kill[..25], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);

            var rows = File.ReadAllLines(Path.Combine(kept, "answers.tsv"));
            Assert.StartsWith("sent_utc\tanswered_utc\t", rows[0], StringComparison.Ordinal);
            var answers = rows.Skip(1).Select(row => row.Split('\t')).ToList();
            // One row for every answer the summary counts, each with all its fields.
            int counted = int.Parse(Answered().Match(stdout).Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
            Assert.Equal(counted, answers.Count);
            Assert.All(answers, fields => Assert.Equal(8, fields.Length));
            var answeredAt = answers.Select(f => DateTime.Parse(f[1], CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal)).ToList();
            Assert.Equal(answeredAt.Order(), answeredAt);
            Assert.Contains(answeredAt, at => at < killedAt);
            Assert.Contains(answeredAt, at => at > killedAt);
        }
        finally
        {
            Directory.Delete(kept, recursive: true);
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [GeneratedRegex(@"started node \w+ on [0-9.:]+ \(pid ([0-9]+)\)")]
    private static partial Regex NodePid();

    [GeneratedRegex(@"working folder (\S+)")]
    private static partial Regex WorkingFolder();

    [GeneratedRegex(@"requests answered\s+([0-9,]+) ")]
    private static partial Regex Answered();
}
