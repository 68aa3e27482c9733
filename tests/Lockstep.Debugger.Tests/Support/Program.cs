using System.Diagnostics;

namespace Lockstep.Debugger.Tests;

public sealed record ProgramResult(int ExitCode, string Stdout, string Stderr);

/// <summary>
/// The lockstep program as built next to these tests (the test project references it), and the
/// repository it belongs to.
/// </summary>
public static class LockstepProgram
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    public static string Root => RootPath.Value;

    public static string Guest(string name) => Path.Combine(Root, "guests", "bin", name + ".elf");

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "lockstep.dll");

    public static ProcessStartInfo StartInfo(string program, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        return info;
    }

    public static ProgramResult Run(params string[] args) => RunProgram("dotnet", [Dll, .. args]);

    public static ProgramResult RunProgram(string program, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        using var process = Process.Start(StartInfo(program, args)) ?? throw new InvalidOperationException($"cannot start {program}");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish");
        }
        process.WaitForExit();
        return new ProgramResult(process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Lockstep.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Lockstep.sln above {AppContext.BaseDirectory}");
    }
}
