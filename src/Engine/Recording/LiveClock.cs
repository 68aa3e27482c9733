using System.Diagnostics;

namespace Lockstep.Engine.Recording;

/// <summary>mtime at 10 MHz on the host's monotonic clock, continuing from a given value.</summary>
public sealed class LiveClock
{
    public const ulong Frequency = 10_000_000;

    private readonly ulong _start;
    private readonly long _origin = Stopwatch.GetTimestamp();

    public LiveClock(ulong start = 0) => _start = start;

    public ulong Now() => _start + (ulong)((Stopwatch.GetTimestamp() - _origin) * (double)Frequency / Stopwatch.Frequency);

    /// <summary>Host time left until mtime reaches <paramref name="mtime"/> (zero if it has).</summary>
    public TimeSpan Until(ulong mtime)
    {
        ulong now = Now();
        if (mtime <= now) return TimeSpan.Zero;
        double seconds = (mtime - now) / (double)Frequency;
        return seconds > 3600 ? TimeSpan.FromHours(1) : TimeSpan.FromSeconds(seconds);
    }

    public static ulong WallClockNanos() => (ulong)(DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
}
