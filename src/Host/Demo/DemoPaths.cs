using Lockstep.Host.Cli;

namespace Lockstep.Host.Demo;

/// <summary>Where the pieces the demo starts come from: the dotnet host, this program's dll, the hocon folder and the kv image.</summary>
public static class DemoPaths
{
    public const string DefaultImage = "guests/bin/kv.elf";

    /// <summary>The dll of the running lockstep program; the nodes run the very same build.</summary>
    public static string ProgramDll() => typeof(DemoPaths).Assembly.Location;

    /// <summary>The dotnet host to start the dll with.</summary>
    public static string DotnetHost()
    {
        // Usually this process is itself `dotnet lockstep.dll`; when it runs from an apphost, fall back to the usual lookups.
        string? current = Environment.ProcessPath;
        if (current is not null && Path.GetFileNameWithoutExtension(current) == "dotnet") return current;
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(Path.Combine(root, "dotnet")))
            return Path.Combine(root, "dotnet");
        return "dotnet";
    }

    /// <summary>The hocon folder the nodes should read, as this process would find it (null: let them search).</summary>
    public static string? Hocon() => HoconFolder.Find() is { } folder ? Path.GetFullPath(folder) : null;

    /// <summary>
    /// The guest image: as given when it exists from the current directory, else looked up relative to the
    /// repository above the program, so the default works from any working directory.
    /// </summary>
    public static string Image(string given)
    {
        if (File.Exists(given)) return Path.GetFullPath(given);
        if (!Path.IsPathRooted(given))
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, given);
                if (File.Exists(candidate)) return candidate;
            }
        }
        throw new UsageException($"--image {given}: no such file (build the guests with `make -C guests`)");
    }
}
