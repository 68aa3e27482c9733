using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Lockstep.Debugger.Tests;

/// <summary>
/// `lockstep ... --gdb 127.0.0.1:0` started as a process, and Debian's gdb-multiarch run against
/// it in batch mode with a list of commands.
/// </summary>
public static partial class GdbSession
{
    public const string GdbProgram = "gdb-multiarch";

    /// <summary>Where gdb-multiarch is; the failure message says how to get it (CI installs it in .ci/run).</summary>
    public static string RequireGdb()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, GdbProgram);
            if (File.Exists(candidate)) return candidate;
        }
        Assert.Fail($"{GdbProgram} is not installed: the gdb end-to-end tests need it (apt-get install gdb-multiarch; .ci/run installs it)");
        return "";
    }

    /// <summary>Runs lockstep with <paramref name="lockstepArgs"/> (which include --gdb 127.0.0.1:0), then gdb with the commands.</summary>
    public static (string Gdb, ProgramResult Lockstep) Run(IEnumerable<string> lockstepArgs, string image, params string[] commands)
    {
        string gdb = RequireGdb();
        using var lockstep = Process.Start(LockstepProgram.StartInfo("dotnet", [LockstepProgram.Dll, .. lockstepArgs]))
            ?? throw new InvalidOperationException("cannot start lockstep");
        lockstep.StandardInput.Close();
        var stdout = lockstep.StandardOutput.ReadToEndAsync();
        var stderr = new System.Text.StringBuilder();
        string? port = null;
        while (port is null && lockstep.StandardError.ReadLine() is { } line)
        {
            stderr.AppendLine(line);
            if (Listening().Match(line) is { Success: true } match) port = match.Groups[1].Value;
        }
        if (port is null)
        {
            lockstep.WaitForExit(10_000);
            throw new InvalidOperationException($"lockstep did not start its gdb server:\n{stderr}");
        }
        var rest = lockstep.StandardError.ReadToEndAsync();
        string[] batch = ["-batch", "-nx", "-ex", "set architecture riscv:rv32", "-ex", $"target remote 127.0.0.1:{port}"];
        var session = LockstepProgram.RunProgram(gdb, [.. batch, .. commands.SelectMany(c => new[] { "-ex", c }), "-ex", "kill", image], TimeSpan.FromMinutes(3));
        if (!lockstep.WaitForExit(30_000))
        {
            lockstep.Kill(entireProcessTree: true);
            throw new TimeoutException($"lockstep did not end after gdb killed the target; gdb said:\n{session.Stdout}{session.Stderr}");
        }
        lockstep.WaitForExit();
        return (session.Stdout + session.Stderr, new ProgramResult(lockstep.ExitCode, stdout.Result, stderr + rest.Result));
    }

    /// <summary>The (position, pc) pairs printed by `monitor position`, in order.</summary>
    public static List<Visit> Positions(string gdbOutput) =>
        PositionLine().Matches(gdbOutput).Select(m => new Visit(ulong.Parse(m.Groups[1].Value), Convert.ToUInt32(m.Groups[2].Value, 16))).ToList();

    [GeneratedRegex(@"listening on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();

    [GeneratedRegex(@"position (\d+) pc 0x([0-9a-f]+)")]
    private static partial Regex PositionLine();
}
