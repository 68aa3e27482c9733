namespace Lockstep.Host.Cli;

/// <summary>Finds the repository's hocon/ folder: $LOCKSTEP_HOCON, or the nearest one above the program.</summary>
public static class HoconFolder
{
    public static string? Find()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("LOCKSTEP_HOCON");
        if (!string.IsNullOrEmpty(fromEnvironment)) return fromEnvironment;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "hocon");
            if (File.Exists(Path.Combine(candidate, "node.conf"))) return candidate;
        }
        return null;
    }
}
