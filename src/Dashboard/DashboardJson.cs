using System.Text.Json;
using System.Text.Json.Serialization;

namespace Lockstep.Dashboard;

/// <summary>How the dashboard's JSON is written: camelCase names, enums as their names, nulls kept (a field is always there).</summary>
public static class DashboardJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}
