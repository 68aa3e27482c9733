using System.Diagnostics;

namespace Lockstep.Replication.Primary;

/// <summary>
/// Where in the checkpoint interval a VM's journal checkpoints fall, from its name alone (the same on
/// every node and after every restart), so that a thousand VMs spread their writes over the interval.
/// </summary>
public static class CheckpointPhase
{
    /// <summary>Intervals this long or longer are not spread (and their arithmetic in ticks could overflow).</summary>
    private static readonly TimeSpan Longest = TimeSpan.FromDays(1);

    /// <summary>
    /// How far to date the first checkpoint back, in <see cref="Stopwatch"/> ticks, so that the next is due
    /// after the VM's phase: somewhere in [0, interval), the same for the same name.
    /// </summary>
    public static long TicksBefore(string name, TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero || interval >= Longest) return 0;
        double phase = Fraction(name);
        return (long)((1 - phase) * interval.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>
    /// FNV-1a of the name, mixed so that names differing in their last character (vm-1, vm-2) land far
    /// apart, as a fraction in [0, 1). Not string.GetHashCode, which differs from process to process.
    /// </summary>
    public static double Fraction(string name)
    {
        ulong hash = 0xCBF2_9CE4_8422_2325;
        foreach (char c in name)
        {
            hash ^= c;
            hash *= 0x0000_0100_0000_01B3;
        }
        hash ^= hash >> 33;
        hash *= 0xFF51_AFD7_ED55_8CCD;
        hash ^= hash >> 33;
        hash *= 0xC4CE_B9FE_1A85_EC53;
        hash ^= hash >> 33;
        return (hash >> 11) / (double)(1UL << 53);
    }
}
