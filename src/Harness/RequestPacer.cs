namespace Lockstep.Harness;

/// <summary>
/// Keeps a front-door client from getting more than <c>memory</c> - 1 requests past one it had to resend, for
/// <c>windowMs</c> after the resend. Why: a request sent twice has a copy that may still be on its way: a node that
/// stalled can forward a datagram up to the front door's `max-datagram-age` (200 ms) late, after the client has had
/// the request answered through another node, and the kv guest answers such a late copy from memory only while the
/// id is among the peer's last 64; past that it runs it again. A request sent once has no other copy, so nothing
/// is held back until a resend happens (docs/architecture.md, the front door's peers). ClusterClient's path needs
/// none of this: its delivery tags drop late copies. Times are milliseconds on the caller's monotonic clock; one caller.
/// </summary>
public sealed class RequestPacer(int memory = RequestPacer.GuestMemory, long windowMs = RequestPacer.LateCopyWindowMs)
{
    /// <summary>Request ids the kv guest remembers per peer.</summary>
    public const int GuestMemory = 64;

    /// <summary>The front door's default max-datagram-age (200 ms) and a margin for the way to the primary.</summary>
    public const long LateCopyWindowMs = 300;

    /// <summary>Each resend still within its window: when the window closes, and how many requests had started by then.</summary>
    private readonly Queue<(long Until, long StartedBefore)> _resends = new();
    private long _started;

    /// <summary>Milliseconds until another request may start (0: now).</summary>
    public long WaitMs(long nowMs)
    {
        while (_resends.Count > 0 && _resends.Peek().Until <= nowMs) _resends.Dequeue();
        long until = 0;
        // Requests started after the resent one, which is itself counted in StartedBefore.
        foreach (var (end, before) in _resends)
            if (_started - before >= memory - 1) until = Math.Max(until, end);
        return until == 0 ? 0 : until - nowMs;
    }

    /// <summary>A request started at <paramref name="nowMs"/>.</summary>
    public void Started(long nowMs) => _started++;

    /// <summary>Requests were sent again at <paramref name="nowMs"/>: earlier copies of them may still arrive late.</summary>
    public void Resent(long nowMs) => _resends.Enqueue((nowMs + windowMs, _started));
}
