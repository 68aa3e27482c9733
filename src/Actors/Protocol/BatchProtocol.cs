using Lockstep.Replication;

// Requests about many VMs at once: the gateway fans them out concurrently and answers once, per VM.

namespace Lockstep.Actors.Protocol;

/// <summary>
/// Creates every VM in <paramref name="Names"/> from one image, concurrently. Reply: <see cref="VmsCreated"/>, one result
/// per name in the order given; a name that fails (invalid, a duplicate, no answer in time) does not stop the others.
/// </summary>
/// <param name="ExposeFrom">When set, the i-th VM of the list is exposed on port ExposeFrom + i of every node.</param>
public sealed record CreateVms(IReadOnlyList<string> Names, byte[] Image, uint MemorySize, int? ExposeFrom = null, bool Durable = false) : IControlRequest
{
    public string Name => "";
}

/// <summary>The outcome of one VM of a <see cref="CreateVms"/>: <paramref name="Error"/> null when it was created.</summary>
public sealed record CreateResult(string Name, string Message, ControlErrorKind? Error);

public sealed record VmsCreated(IReadOnlyList<CreateResult> Results);

/// <summary>Every VM with its state and placement (`vm list`). Reply: <see cref="VmSummaries"/>. Name is unused.</summary>
public sealed record ListVmSummaries(string Name = "") : IControlRequest;

/// <summary>
/// One VM as `vm list` shows it. <paramref name="State"/> is null when its status could not be had in time
/// (<paramref name="Problem"/> says why); Primary and Secondary are "host:port" or null.
/// </summary>
public sealed record VmSummary(string Name, VmState? State, long Generation, string? Primary, string? Secondary, string? Problem);

public sealed record VmSummaries(IReadOnlyList<VmSummary> Vms);
