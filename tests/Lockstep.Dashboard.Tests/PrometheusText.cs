using System.Globalization;

namespace Lockstep.Dashboard.Tests;

/// <summary>The samples of a Prometheus text-format scrape, keyed by series as written (name{labels}).</summary>
public sealed class PrometheusText
{
    private readonly Dictionary<string, double> _series;

    private PrometheusText(Dictionary<string, double> series) => _series = series;

    public static PrometheusText Parse(string text)
    {
        var series = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.StartsWith('#')) continue;
            int space = line.LastIndexOf(' ');
            if (space <= 0) throw new FormatException($"not a sample line: '{line}'");
            series[line[..space]] = double.Parse(line[(space + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);
        }
        return new PrometheusText(series);
    }

    /// <summary>The value of <paramref name="series"/>, e.g. lockstep_vm_outputs{vm="kv1"}; fails when the scrape has none.</summary>
    public double this[string series] =>
        _series.TryGetValue(series, out double value) ? value : throw new Xunit.Sdk.XunitException($"the scrape has no {series}; it has: {string.Join(", ", _series.Keys.Where(k => k.StartsWith("lockstep_", StringComparison.Ordinal)))}");

    /// <summary>Every series whose name (before the labels) is <paramref name="name"/>.</summary>
    public IEnumerable<KeyValuePair<string, double>> Named(string name) =>
        _series.Where(s => s.Key == name || s.Key.StartsWith(name + "{", StringComparison.Ordinal));
}
