namespace Lockstep.Harness;

/// <summary>
/// The repository the running binaries were built in: the nearest folder above them that holds both
/// Lockstep.sln and the `lockstep` script, and the paths in it that the demo and the tests need.
/// </summary>
public static class RepoRoot
{
    private static readonly Lazy<string> Found = new(() => Find(AppContext.BaseDirectory));

    /// <summary>The repository's folder; throws <see cref="DirectoryNotFoundException"/> when the binaries do not sit in one.</summary>
    public static string Folder => Found.Value;

    public static string Hocon => Path.Combine(Folder, "hocon");

    /// <summary>The `lockstep` script, which builds the program when its sources changed and runs it.</summary>
    public static string Script => Path.Combine(Folder, "lockstep");

    /// <summary>Where the script puts its build.</summary>
    public static string BuildFolder => Path.Combine(Folder, ".build", "host");

    /// <summary>guests/bin/NAME.elf.</summary>
    public static string Guest(string name) => Path.Combine(Folder, "guests", "bin", name + ".elf");

    /// <summary>The repository at or above <paramref name="start"/>.</summary>
    public static string Find(string start) =>
        TryFind(start) ?? throw new DirectoryNotFoundException($"no repository (Lockstep.sln and lockstep) at or above {start}");

    /// <summary>The repository at or above <paramref name="start"/>, or null (an installed copy of the program has none).</summary>
    public static string? TryFind(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Lockstep.sln")) && File.Exists(Path.Combine(dir.FullName, "lockstep")))
                return dir.FullName;
        }
        return null;
    }
}
