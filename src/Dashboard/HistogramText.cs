using System.Globalization;
using System.Text;
using Lockstep.Replication.Stats;

namespace Lockstep.Dashboard;

/// <summary>
/// Writes <see cref="LatencyCounts"/> as Prometheus histograms in the text format (cumulative <c>_bucket</c> series with
/// an <c>le</c> label in seconds, <c>_sum</c>, <c>_count</c>). prometheus-net's own histograms only take observations one
/// by one; these are counted by the data path itself and read whole, so they are written out here.
/// </summary>
public static class HistogramText
{
    /// <summary>One histogram family: every series with its label pairs.</summary>
    public static void Write(StringBuilder text, string name, string help, IEnumerable<(IReadOnlyList<(string Name, string Value)> Labels, LatencyCounts Counts)> series)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" histogram\n");
        foreach (var (labels, counts) in series)
        {
            long cumulative = 0;
            for (int i = 0; i < counts.Counts.Length; i++)
            {
                cumulative += counts.Counts[i];
                string le = i < LatencyHistogram.BoundsMs.Count
                    ? (LatencyHistogram.BoundsMs[i] / 1000).ToString("R", CultureInfo.InvariantCulture)
                    : "+Inf";
                Series(text, name + "_bucket", labels, ("le", le)).Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
            Series(text, name + "_sum", labels, null).Append(' ').Append((counts.SumMs / 1000).ToString("R", CultureInfo.InvariantCulture)).Append('\n');
            Series(text, name + "_count", labels, null).Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private static StringBuilder Series(StringBuilder text, string name, IReadOnlyList<(string Name, string Value)> labels, (string Name, string Value)? extra)
    {
        text.Append(name);
        var all = extra is { } more ? labels.Append(more).ToList() : labels;
        if (all.Count == 0) return text;
        text.Append('{');
        for (int i = 0; i < all.Count; i++)
        {
            if (i > 0) text.Append(',');
            text.Append(all[i].Name).Append("=\"").Append(Escape(all[i].Value)).Append('"');
        }
        return text.Append('}');
    }

    /// <summary>A label value as the text format wants it.</summary>
    public static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
}
