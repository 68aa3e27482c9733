namespace Lockstep.Harness;

/// <summary>
/// Keeps one front-door client from starting more than <c>perWindow</c> requests within <c>windowMs</c>. Why: a
/// node that stalls may still forward a copy of a request that waited in it up to the front door's
/// `max-datagram-age` (200 ms), after the client has had it answered through another node; the kv guest
/// answers such a late copy from memory only while the id is among the peer's last 64, and runs it again after.
/// A client that starts at most 64 requests in 300 ms keeps every late copy the door lets through within that
/// memory (docs/architecture.md, the front door's peers). ClusterClient's path needs none of this: its
/// delivery tags drop late copies. Times are milliseconds on the caller's monotonic clock; one caller.
/// </summary>
public sealed class RequestPacer(int perWindow = RequestPacer.GuestMemory, long windowMs = RequestPacer.LateCopyWindowMs)
{
    /// <summary>Request ids the kv guest remembers per peer.</summary>
    public const int GuestMemory = 64;

    /// <summary>The front door's default max-datagram-age (200 ms) and a margin for the way to the primary.</summary>
    public const long LateCopyWindowMs = 300;

    private readonly Queue<long> _starts = new();

    /// <summary>Milliseconds until another request may start (0: now).</summary>
    public long WaitMs(long nowMs)
    {
        while (_starts.Count > 0 && nowMs - _starts.Peek() >= windowMs) _starts.Dequeue();
        return _starts.Count < perWindow ? 0 : _starts.Peek() + windowMs - nowMs;
    }

    /// <summary>A request started at <paramref name="nowMs"/>.</summary>
    public void Started(long nowMs) => _starts.Enqueue(nowMs);
}
