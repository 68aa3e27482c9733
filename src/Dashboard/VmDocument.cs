using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>
/// GET /api/vm/NAME (with every kept sample) and each event of /api/vm/NAME/events (with the newest sample only):
/// the VM's status as `vm status --json` has it, its history with each failover's kind, and the live members
/// (the nodes a secondary could move to).
/// </summary>
public sealed record VmDocument(
    DateTime At, string Node, VmStatus? Status, string? Error, IReadOnlyList<HistoryRow> History, IReadOnlyList<VmSample> Samples,
    IReadOnlyList<MemberView> Members);

/// <summary>An entry of the VM's history. FailoverKind: "primary" or "secondary" (see <see cref="FailoverKinds"/>), null for an operation.</summary>
public sealed record HistoryRow(DateTime At, HistoryKind Kind, string? FailoverKind, string Reason, double GapMs, double DurationMs, string? TookOver, long Generation)
{
    public static HistoryRow From(FailoverRecord r) =>
        new(r.At, r.Kind, r.Kind == HistoryKind.Failover ? FailoverKinds.Of(r) : null, r.Reason, r.GapMs, r.DurationMs, r.TookOver, r.Generation);
}
