using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>GET /api/overview and each event of /api/events: every VM in a line, and the members.</summary>
public sealed record OverviewDocument(DateTime At, string Node, string? Error, IReadOnlyList<OverviewRow> Vms, IReadOnlyList<MemberView> Members)
{
    public static OverviewDocument From(ClusterSnapshot snapshot) =>
        new(snapshot.At, snapshot.Node, snapshot.Error, snapshot.Vms.Select(OverviewRow.From).ToList(), snapshot.Members);
}

/// <summary>A VM's line on the overview. The rates come from the last two polls (see <see cref="VmSample"/>).</summary>
/// <param name="Error">Why the last poll of this VM failed (the other fields are then from the poll before, when there was one).</param>
public sealed record OverviewRow(
    string Name, string? State, long? Generation, string? Primary, string? Secondary, double? LagMs, double? LogBytesPerSecond,
    double? OutputsPerSecond, double? MipsRate, ulong? OutputsHeld, bool? Paused, string? Error)
{
    public static OverviewRow From(VmEntry entry)
    {
        var s = entry.Status;
        return new OverviewRow(entry.Name, s?.State.ToString(), s?.Generation, s?.Primary, s?.Secondary, s?.LagMs, s?.LogBytesPerSecond,
            entry.Sample?.OutputsPerSecond, entry.Sample?.MipsRate, entry.Sample?.OutputsHeld, s?.Figures?.Paused, entry.Error?.Message);
    }
}
