using System.Diagnostics;
using System.Globalization;

namespace Lockstep.Host.Demo;

/// <summary>Milliseconds since the demo began: one monotonic time line for the events, the samples and the report.</summary>
public sealed class DemoClock
{
    private readonly Stopwatch _watch = Stopwatch.StartNew();
    private readonly DateTime _startedUtc = DateTime.UtcNow;

    public double NowMs => _watch.Elapsed.TotalMilliseconds;

    /// <summary>The wall-clock time of a moment on this time line, to set beside the nodes' log lines.</summary>
    public DateTime UtcAt(double atMs) => _startedUtc.AddMilliseconds(atMs);

    /// <summary>Where a wall-clock time (a node's log line) falls on this time line.</summary>
    public double MsAt(DateTime utc) => (utc - _startedUtc).TotalMilliseconds;

    /// <summary>"T+12.3s", how every line of the demo says when something happened.</summary>
    public static string Stamp(double atMs) => "T+" + (atMs / 1000).ToString("0.0", CultureInfo.InvariantCulture).PadLeft(5) + "s";
}
