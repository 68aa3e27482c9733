using System.Text.Json;

namespace Lockstep.Cluster.Tests;

/// <summary>What `vm status --json` said.</summary>
public sealed record VmStatusView(string Name, string State, long Generation, string? Primary, string? Secondary, string Json)
{
    public static VmStatusView Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return new VmStatusView(
            root.GetProperty("name").GetString() ?? "",
            root.GetProperty("state").GetString() ?? "",
            root.GetProperty("generation").GetInt64(),
            NullableString(root, "primary"),
            NullableString(root, "secondary"),
            json);
    }

    public override string ToString() => $"{State} g{Generation} primary={Primary ?? "-"} secondary={Secondary ?? "-"}";

    private static string? NullableString(JsonElement root, string property) =>
        root.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
