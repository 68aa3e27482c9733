using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Lockstep.Demo.Tests;

/// <summary>
/// `lockstep demo` end to end, as a user runs it but with its output piped: three real nodes, the primary's
/// node killed under load, and the demo's own checks. The program under test is the built CLI, so this
/// project references nothing of it.
/// </summary>
public sealed partial class DemoTests(ITestOutputHelper log)
{
    private static readonly TimeSpan BuildLimit = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan DemoLimit = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Demo_fails_over_under_load_and_its_checks_hold()
    {
        string repo = RepoRoot();
        var build = await RunAsync("bash", [Path.Combine(repo, "lockstep"), "--help"], repo, BuildLimit);
        Assert.True(build.ExitCode == 0, $"building the CLI failed:\n{build.Output}");

        string dll = Path.Combine(repo, ".build", "host", "lockstep.dll");
        var demo = await RunAsync("dotnet", [dll, "demo", "--base-port", "5100"], repo, DemoLimit);
        log.WriteLine(demo.Output);

        Assert.False(demo.TimedOut, $"the demo did not finish within {DemoLimit.TotalMinutes:0} minutes");
        Assert.True(demo.ExitCode == 0, $"the demo exited with {demo.ExitCode}:\n{demo.Output}");
        Assert.Contains("Summary", demo.Stdout);
        Assert.Contains("failover gap (client)", demo.Stdout);
        Assert.Contains("result: PASS", demo.Stdout);

        // The demo promises to leave nothing behind: its nodes and its working folder must be gone.
        foreach (Match node in NodePid().Matches(demo.Stdout))
            Assert.False(IsRunning(int.Parse(node.Groups[1].Value)), $"node process {node.Groups[1].Value} outlived the demo");
        var folder = WorkingFolder().Match(demo.Stdout);
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

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Lockstep.sln")) && File.Exists(Path.Combine(dir.FullName, "lockstep")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"no repository (Lockstep.sln and lockstep) above {AppContext.BaseDirectory}");
    }

    private static async Task<Result> RunAsync(string program, string[] args, string workDir, TimeSpan limit)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = workDir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        var stdout = new StringBuilder();
        var all = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (all)
            {
                stdout.AppendLine(e.Data);
                all.AppendLine(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (all) all.AppendLine("stderr: " + e.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(limit);
        bool timedOut = false;
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            // The demo's own cleanup cannot run after SIGKILL, so its nodes (its descendants) go with it.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        // WaitForExit without a limit also waits for the output to be read to its end.
        process.WaitForExit();
        lock (all) return new Result(timedOut ? -1 : process.ExitCode, timedOut, stdout.ToString(), all.ToString());
    }

    private sealed record Result(int ExitCode, bool TimedOut, string Stdout, string Output);

    [GeneratedRegex(@"started node \w+ on [0-9.:]+ \(pid ([0-9]+)\)")]
    private static partial Regex NodePid();

    [GeneratedRegex(@"working folder (\S+)")]
    private static partial Regex WorkingFolder();
}
