using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>What one poll of the cluster found: every VM's status (or why it could not be had) and the members.</summary>
/// <param name="Error">Why the VM list itself could not be had; null when it could.</param>
public sealed record ClusterSnapshot(DateTime At, string Node, IReadOnlyList<VmEntry> Vms, IReadOnlyList<MemberView> Members, string? Error)
{
    public static ClusterSnapshot Empty(string node) => new(DateTime.UtcNow, node, [], [], "not polled yet");
}

/// <summary>One VM of a poll: its status and the sample taken from it, or the gateway's error.</summary>
public sealed record VmEntry(string Name, VmStatus? Status, VmSample? Sample, ControlError? Error);
