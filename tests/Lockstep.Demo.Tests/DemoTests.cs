using System.Diagnostics;
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
}
