using System.Diagnostics;

namespace Lockstep.Replication.Links;

/// <summary>
/// How long this node's link timer was held up beyond its interval, summed over the node's life. While the node
/// stood still as a whole (starved of CPU, a long pause) it heard nothing and judged nothing; on one machine its
/// peers stood still at the same moments, and counting that time as their silence failed every VM on a link over
/// at once (a loaded N = 1,000 run: 1,280 takeovers, then the split-brain resolver downed nodes). A link's silence
/// is therefore counted in this node's running time: the stalls since the link last heard its peer are taken off.
/// A peer that is really gone is still found once the timeout passes in time this node ran, so a node that is
/// late often finds it later by as much as it was late, never not at all.
/// </summary>
/// <remarks>Stopwatch ticks throughout. One timer thread turns it; readers of <see cref="Total"/> on any thread.</remarks>
public sealed class OwnStalls
{
    private readonly long _interval;
    private long _lastTurn;
    private long _total;

    /// <param name="interval">The timer's interval; lateness up to one more interval is its ordinary jitter, not counted.</param>
    /// <param name="start">When the timer started.</param>
    public OwnStalls(TimeSpan interval, long start)
    {
        _interval = (long)(interval.TotalSeconds * Stopwatch.Frequency);
        _lastTurn = start;
    }

    /// <summary>Stalled time so far.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>The timer's turn at <paramref name="now"/>: what it came later than two intervals after the last is stalled time.</summary>
    public void Turn(long now)
    {
        long late = now - _lastTurn - 2 * _interval;
        if (late > 0) Interlocked.Add(ref _total, late);
        _lastTurn = now;
    }

    /// <summary>
    /// <paramref name="silent"/>, less what this node stalled since <paramref name="totalWhenLastHeard"/> (its <see cref="Total"/>
    /// when the peer was last heard).
    /// </summary>
    public TimeSpan Discounted(TimeSpan silent, long totalWhenLastHeard)
    {
        var stalled = TimeSpan.FromSeconds((double)(Total - totalWhenLastHeard) / Stopwatch.Frequency);
        return stalled >= silent ? TimeSpan.Zero : silent - stalled;
    }
}
