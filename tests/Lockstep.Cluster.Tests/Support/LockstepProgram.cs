using System.Diagnostics;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// The built lockstep program, shared by every test of the collection. It is built once through the
/// repository's own `lockstep` script, then copied to a private folder so that a rebuild started by
/// someone else while the tests run cannot rewrite the assemblies under the running nodes.
/// </summary>
public sealed class LockstepProgram : IDisposable
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(10);

    public LockstepProgram()
    {
        RepoRoot = FindRepoRoot();
        HoconFolder = Path.Combine(RepoRoot, "hocon");
        Build();
        ProgramFolder = Path.Combine(TestPaths.Root, $"program-{Environment.ProcessId}-{Guid.NewGuid():N}");
        CopyFolder(Path.Combine(RepoRoot, ".build", "host"), ProgramFolder);
        Dll = Path.Combine(ProgramFolder, "lockstep.dll");
        if (!File.Exists(Dll)) throw new InvalidOperationException($"the build left no {Dll}");
        KvImage = Path.Combine(RepoRoot, "guests", "bin", "kv.elf");
        if (!File.Exists(KvImage)) throw new InvalidOperationException($"guest image {KvImage} is missing");
    }

    public string RepoRoot { get; }
    public string HoconFolder { get; }
    public string ProgramFolder { get; }

    /// <summary>The program to pass to `dotnet`.</summary>
    public string Dll { get; }

    public string KvImage { get; }

    /// <summary>A start description for `dotnet lockstep.dll ARGS` in <paramref name="workingDirectory"/>.</summary>
    public ProcessStartInfo StartInfo(string workingDirectory, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardInputEncoding = new System.Text.UTF8Encoding(false),
        };
        info.ArgumentList.Add(Dll);
        foreach (string arg in args) info.ArgumentList.Add(arg);
        info.Environment["LOCKSTEP_HOCON"] = HoconFolder;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        return info;
    }

    public void Dispose()
    {
        ProcessRegistry.KillAll();
        try
        {
            Directory.Delete(ProgramFolder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Lockstep.sln")) && File.Exists(Path.Combine(dir.FullName, "lockstep")))
                return dir.FullName;
        }
        throw new InvalidOperationException($"no repository root (Lockstep.sln and lockstep) above {AppContext.BaseDirectory}");
    }

    /// <summary>`bash lockstep --help`, which builds .build/host when needed; retried, since other builds may hold file locks.</summary>
    private void Build()
    {
        string script = Path.Combine(RepoRoot, "lockstep");
        string lastOutput = "";
        for (int attempt = 1; attempt <= 4; attempt++)
        {
            var info = new ProcessStartInfo("bash")
            {
                WorkingDirectory = RepoRoot,
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            info.ArgumentList.Add(script);
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
            if (process.ExitCode == 0) return;
            Thread.Sleep(TimeSpan.FromSeconds(5 * attempt));
        }
        throw new InvalidOperationException($"`lockstep --help` failed 4 times; last output:\n{lastOutput}");
    }

    private static void CopyFolder(string from, string to)
    {
        if (!Directory.Exists(from)) throw new InvalidOperationException($"{from} does not exist after the build");
        foreach (string dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        Directory.CreateDirectory(to);
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)), overwrite: true);
    }
}

/// <summary>The collection every cluster test belongs to: one at a time, one build for all.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection : ICollectionFixture<LockstepProgram>
{
    public const string Name = "cluster processes";
}

public static class TestPaths
{
    /// <summary>Parent of every folder these tests make; one per user so runs of different users never clash.</summary>
    public static string Root { get; } = CreateRoot();

    private static string CreateRoot()
    {
        string root = Path.Combine(Path.GetTempPath(), $"lockstep-cluster-tests-{Environment.UserName}");
        Directory.CreateDirectory(root);
        return root;
    }
}
