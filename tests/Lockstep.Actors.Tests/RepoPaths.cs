namespace Lockstep.Actors.Tests;

public static class RepoPaths
{
    public static string Root { get; } = FindRoot();
    public static string Hocon => Path.Combine(Root, "hocon");
    public static string Guest(string name) => Path.Combine(Root, "guests", "bin", name + ".elf");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Lockstep.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("repository root (Lockstep.sln) not found");
    }
}
