using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>The last <c>capacity</c> samples of one VM, oldest first, and its latest status. Not thread-safe: the sampler owns it.</summary>
public sealed class VmSeries(int capacity)
{
    private readonly Queue<VmSample> _samples = new();
    // The poll the next one derives its rates from; cleared by a failed poll.
    private (DateTime At, VmStatus Status)? _previous;

    public VmStatus? Latest { get; private set; }

    public IReadOnlyList<VmSample> Samples => _samples.ToList();

    /// <summary>Adds the status polled at <paramref name="at"/>; returns its sample.</summary>
    public VmSample Add(DateTime at, VmStatus status)
    {
        double? outputsPerSecond = null, mips = null, latency = null, latencyP99 = null;
        if (_previous is { } previous && at > previous.At)
        {
            double seconds = (at - previous.At).TotalSeconds;
            outputsPerSecond = Rate(previous.Status.Outputs, status.Outputs, seconds);
            mips = Rate(previous.Status.Instructions, status.Instructions, seconds) / 1e6;
            // The primary's hold histogram between the two polls; a new primary (a failover) started its own, so none.
            if (previous.Status.Figures?.OutputHold is { } before && status.Figures?.OutputHold is { } after
                && previous.Status.Generation == status.Generation && after.Since(before) is { } interval)
            {
                latency = interval.MeanMs;
                latencyP99 = interval.QuantileBoundMs(0.99);
            }
        }
        ulong? held = status.Figures is { } figures && status.Outputs >= figures.OutputsReleased ? status.Outputs - figures.OutputsReleased : null;
        var sample = new VmSample(at, status.State, status.Generation, status.LagMs, status.LogBytesPerSecond, outputsPerSecond, mips, held, latency, latencyP99);
        _samples.Enqueue(sample);
        while (_samples.Count > capacity) _samples.Dequeue();
        _previous = (at, status);
        Latest = status;
        return sample;
    }

    /// <summary>A poll failed: the next sample has nothing to derive its rates from (the chart shows a gap, not a false rate).</summary>
    public void Missed() => _previous = null;

    // A counter that went back (a primary rebuilt from an older checkpoint) gives no rate rather than a negative one.
    private static double? Rate(ulong before, ulong after, double seconds) => after >= before ? (after - before) / seconds : null;
}
