using System.Diagnostics;

namespace Lockstep.Replication.Primary;

/// <summary>
/// When the VM thread cuts and ships a log segment. Used by the VM thread only.
/// A lone request's answer should not wait: ship as soon as the guest is idle. Under load, outputs
/// gather for up to ship-interval, or until <see cref="OutputsPerSegment"/> were made since the last
/// segment, and share one segment and one ack.
/// </summary>
public sealed class ShipPolicy(TimeSpan interval)
{
    /// <summary>
    /// Counted since the last segment, not as outputs held: with more than this many awaiting their
    /// ack (a client with 128 requests in flight), a count of held outputs sent a segment, and drew
    /// an ack, for every single request.
    /// </summary>
    public const int OutputsPerSegment = 32;

    private long _lastShip;
    private int _unshipped;

    public void Produced(int outputs) => _unshipped += outputs;

    /// <summary>True when a segment should go now; the count of outputs starts over either way.</summary>
    public bool Due(bool idle, long now)
    {
        bool due = idle || _unshipped >= OutputsPerSegment || Stopwatch.GetElapsedTime(_lastShip, now) >= interval;
        if (due) _unshipped = 0;
        return due;
    }

    public void Shipped(long now) => _lastShip = now;
}
