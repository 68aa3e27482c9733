using Lockstep.Replication;

namespace Lockstep.Dashboard;

/// <summary>
/// One poll of a VM's status, with the rates derived from the poll before it. Null rates: no earlier
/// poll to compare with (the first one, or the one after a failed poll).
/// </summary>
/// <param name="OutputsPerSecond">Change of the VM's output counter over the poll interval: packets the guest sent per second (for kv: answers, so requests served per second).</param>
/// <param name="MipsRate">Change of the instruction count over the interval, in millions per second.</param>
/// <param name="OutputsHeld">Outputs made and not yet released under the output rule, at the poll; null without a live primary.</param>
/// <param name="OutputLatencyMs">Mean time an output released since the poll before waited under the output rule; null with none released (or no earlier poll of the same primary).</param>
/// <param name="OutputLatencyP99Ms">The upper bound of the histogram bucket holding the 99th percentile of those waits.</param>
public sealed record VmSample(
    DateTime At, VmState State, long Generation, double LagMs, double LogBytesPerSecond,
    double? OutputsPerSecond, double? MipsRate, ulong? OutputsHeld, double? OutputLatencyMs = null, double? OutputLatencyP99Ms = null);
