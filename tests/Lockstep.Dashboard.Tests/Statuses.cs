using Lockstep.Actors.Protocol;
using Lockstep.Replication;
using Lockstep.Replication.Stats;

namespace Lockstep.Dashboard.Tests;

/// <summary>VM statuses as a primary would answer them, for the tests that need no cluster.</summary>
public static class Statuses
{
    public static VmStatus Of(string name, ulong instructions, ulong outputs, ulong released, long generation = 1,
        IReadOnlyList<FailoverRecord>? history = null, VmState state = VmState.Protected, LatencyCounts? hold = null) =>
        new(name, state, generation, "127.0.0.1:1", "127.0.0.1:2", 1.5, instructions, outputs, 900,
            history ?? [], "Protected", new VmFigures(4096, released, 2.5, false, OutputHold: hold, LastReprotectMs: 180));

    /// <summary>A hold histogram with <paramref name="counts"/> in its first buckets, the rest empty.</summary>
    public static LatencyCounts Hold(double sumMs, params long[] counts)
    {
        var all = new long[LatencyHistogram.BoundsMs.Count + 1];
        counts.CopyTo(all, 0);
        return new LatencyCounts(all, sumMs);
    }

    public static FailoverRecord Failover(double gapMs) => new(DateTime.UtcNow, "lost", gapMs, "127.0.0.1:2", 2);

    public static FailoverRecord Operation() => new(DateTime.UtcNow, "paused", 0, "127.0.0.1:1", 1, HistoryKind.Operation, 12);
}
