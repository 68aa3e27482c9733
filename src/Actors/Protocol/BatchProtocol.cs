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

    /// <summary>
    /// How long the directory takes at most to answer a create of <paramref name="count"/> VMs: the VMs are defined a
    /// window at a time on the one shared journal, so the time grows with the batch (measured: about 30 ms a VM on a
    /// quiet machine, ten times that under a load of 50, docs/benchmarks.md). A VM not confirmed by then is reported as
    /// not confirmed; the directory goes on sending it its definition.
    /// </summary>
    public static TimeSpan AnswerWithin(int count) => TimeSpan.FromSeconds(60) + TimeSpan.FromMilliseconds(300) * count;
}

/// <summary>
/// The directory to a VM's coordinator: define this VM (once registered). Idempotent: sent again until answered with
/// <see cref="VmDefined"/>, since a shard that restarts (its remembered entities not loaded in time) drops what it
/// buffered. A coordinator defined already answers <see cref="VmDefined"/> again for the same definition.
/// </summary>
/// <param name="Durable">Created `--durable`: its outputs also wait for the journal's commit.</param>
public sealed record DefineVm(string Name, byte[] Image, uint MemorySize, IReadOnlyList<int> Expose, bool Durable = false);

/// <summary>
/// The coordinator's answer to <see cref="DefineVm"/>: persisted, the primary is being placed; or, with
/// <paramref name="Error"/>, refused (it holds another definition under this name).
/// </summary>
public sealed record VmDefined(string Name, string Message, ControlErrorKind? Error = null);

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

/// <param name="Note">Set when the list is not the directory's: why, and what it may miss.</param>
public sealed record VmSummaries(IReadOnlyList<VmSummary> Vms, string? Note = null);
