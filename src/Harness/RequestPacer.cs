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
/// <remarks>
/// The requests allowed in a window are spread evenly over it: the n-th after the resent one starts no earlier than
/// n/<c>memory</c> of the window after the resend. Let through as fast as they are answered, a new primary answers
/// all 63 in some 60 ms and the client then sits out the rest of the window with nothing in flight; in the demo that
/// was the longest silence after a failover (130–240 ms), of the clients' own making.
/// </remarks>
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
        foreach (var (end, before) in _resends)
        {
            // The next request would be the n-th started after the resent one (itself counted in StartedBefore);
            // the memory-th waits for the window to close, so at most memory - 1 start within it.
            long n = _started - before + 1;
            until = Math.Max(until, end - windowMs + n * windowMs / memory);
        }
        return Math.Max(0, until - nowMs);
    }

    /// <summary>A request started at <paramref name="nowMs"/>.</summary>
    public void Started(long nowMs) => _started++;

    /// <summary>Requests were sent again at <paramref name="nowMs"/>: earlier copies of them may still arrive late.</summary>
    public void Resent(long nowMs) => _resends.Enqueue((nowMs + windowMs, _started));
}
