namespace Lockstep.Host.Bench;

/// <summary>Latency samples and their percentiles, in microseconds.</summary>
public sealed class Percentiles(List<double> samples)
{
    public double P50 => At(0.50);
    public double P99 => At(0.99);

    private double At(double q)
    {
        if (samples.Count == 0) return double.NaN;
        var sorted = samples.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];
    }

    public override string ToString() => $"p50 {P50,8:F1} µs   p99 {P99,8:F1} µs   (n={samples.Count})";
}
