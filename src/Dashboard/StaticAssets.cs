using System.Reflection;

namespace Lockstep.Dashboard;

/// <summary>The pages, style sheet and scripts embedded in this assembly (wwwroot/), read once.</summary>
public static class StaticAssets
{
    private static readonly Dictionary<string, string> Types = new(StringComparer.Ordinal)
    {
        [".html"] = "text/html; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
    };

    private static readonly Dictionary<string, byte[]> Files = Load();

    /// <summary>The file wwwroot/<paramref name="name"/> and its content type, or null.</summary>
    public static (byte[] Bytes, string ContentType)? Find(string name) =>
        Files.TryGetValue(name, out var bytes) && Types.TryGetValue(Path.GetExtension(name), out var type) ? (bytes, type) : null;

    public static string Text(string name) =>
        System.Text.Encoding.UTF8.GetString(Files.TryGetValue(name, out var bytes) ? bytes : throw new InvalidOperationException($"wwwroot/{name} is not embedded"));

    private static Dictionary<string, byte[]> Load()
    {
        const string prefix = "wwwroot/";
        var assembly = Assembly.GetExecutingAssembly();
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string resource in assembly.GetManifestResourceNames().Where(r => r.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            files[resource[prefix.Length..]] = copy.ToArray();
        }
        return files;
    }
}
