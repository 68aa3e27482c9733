using System.Diagnostics;
using System.Text;

namespace Lockstep.Harness;

/// <summary>
/// A build of the lockstep program and how to start it: `dotnet lockstep.dll ARGS`, told where the
/// hocon folder is. The demo starts nodes from its own build; the tests build the repository's once
/// and run a private copy of it.
/// </summary>
public sealed class LockstepProgram : IDisposable
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);
    private const int BuildAttempts = 4;

    private readonly string? _privateFolder;

    /// <param name="dll">The program's lockstep.dll.</param>
    /// <param name="hoconFolder">Passed as LOCKSTEP_HOCON; null lets the program look for its configuration itself.</param>
    public LockstepProgram(string dll, string? hoconFolder)
        : this(dll, hoconFolder, privateFolder: null)
    {
    }

    private LockstepProgram(string dll, string? hoconFolder, string? privateFolder)
    {
        if (!File.Exists(dll)) throw new FileNotFoundException($"no lockstep program at {dll}", dll);
        Dll = dll;
        HoconFolder = hoconFolder;
        _privateFolder = privateFolder;
    }

    public string Dll { get; }

    public string? HoconFolder { get; }

    /// <summary>
    /// Builds the repository's program (<see cref="Build"/>) and copies it to a folder of its own, so that a
    /// rebuild started by someone else meanwhile cannot rewrite the assemblies under running processes.
    /// Disposing removes the copy.
    /// </summary>
    public static LockstepProgram BuildPrivateCopy()
    {
        string built = Build();
        string copy = Directory.CreateTempSubdirectory("lockstep-program-").FullName;
        foreach (string file in Directory.EnumerateFiles(built, "*", SearchOption.AllDirectories))
        {
            string target = Path.Combine(copy, Path.GetRelativePath(built, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
        return new LockstepProgram(Path.Combine(copy, "lockstep.dll"), RepoRoot.Hocon, copy);
    }

    /// <summary>
    /// `bash lockstep --help`, which builds <see cref="RepoRoot.BuildFolder"/> when the sources changed, and
    /// returns that folder. Retried, since other builds on the machine may hold file locks for a while.
    /// </summary>
    public static string Build()
    {
        string lastOutput = "";
        for (int attempt = 1; attempt <= BuildAttempts; attempt++)
        {
            var info = new ProcessStartInfo("bash")
            {
                WorkingDirectory = RepoRoot.Folder,
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            info.ArgumentList.Add(RepoRoot.Script);
            info.ArgumentList.Add("--help");
            using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start bash");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(BuildTimeout))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(5000);
                throw new TimeoutException($"building lockstep took longer than {BuildTimeout.TotalMinutes} minutes");
            }
            process.WaitForExit();
            lastOutput = stdout.Result + stderr.Result;
            if (process.ExitCode == 0)
            {
                if (!File.Exists(Path.Combine(RepoRoot.BuildFolder, "lockstep.dll")))
                    throw new InvalidOperationException($"the build left no lockstep.dll in {RepoRoot.BuildFolder}");
                return RepoRoot.BuildFolder;
            }
            if (attempt < BuildAttempts) Thread.Sleep(TimeSpan.FromSeconds(5 * attempt));
        }
        throw new InvalidOperationException($"`lockstep --help` failed {BuildAttempts} times; last output:\n{lastOutput}");
    }

    /// <summary>
    /// The dotnet host to start the dll with: this process's own when it is `dotnet` (the usual case),
    /// else the ones the SDK names in the environment, else whatever `dotnet` the PATH finds.
    /// </summary>
    public static string DotnetHost()
    {
        string? current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet") return current;
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(Path.Combine(root, "dotnet")))
            return Path.Combine(root, "dotnet");
        return "dotnet";
    }

    /// <summary>A start description for `dotnet lockstep.dll ARGS` in <paramref name="workingDirectory"/>, every stream redirected.</summary>
    public ProcessStartInfo StartInfo(string workingDirectory, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = workingDirectory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new UTF8Encoding(false),
        };
        info.ArgumentList.Add(Dll);
        foreach (string arg in args) info.ArgumentList.Add(arg);
        if (HoconFolder is not null) info.Environment["LOCKSTEP_HOCON"] = HoconFolder;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        return info;
    }

    public void Dispose()
    {
        if (_privateFolder is null) return;
        try
        {
            Directory.Delete(_privateFolder, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A process may still hold a file open; the temporary folder is the system's to clear then.
        }
    }
}
