namespace Lockstep.Host.Demo;

/// <summary>When the demo's turning points happened (demo time, ms) and what the VM looked like before the kill.</summary>
public sealed class DemoTimeline
{
    public double LoadStartMs { get; set; } = double.NaN;
    public double KillAtMs { get; set; } = double.NaN;

    public string? KilledNode { get; set; }
    public long GenerationBefore { get; set; }
    public string? SecondaryBefore { get; set; }
    public double TakeoverSeenAtMs { get; set; } = double.NaN;
    /// <summary>When `vm status` first showed the VM Protected again.</summary>
    public double ProtectedAgainAtMs { get; set; } = double.NaN;

    /// <summary>When the new primary logged that it was Protected again, and which node it was.</summary>
    public double ProtectedLoggedAtMs { get; set; } = double.NaN;
    public string? ProtectedLoggedBy { get; set; }
    public double LoadEndMs { get; set; } = double.NaN;
}
