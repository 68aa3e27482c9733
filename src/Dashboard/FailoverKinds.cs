using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>
/// Which side a failover entry of a VM's history lost. The record has no field for it; it is told by the gap:
/// a secondary that takes over records how long the VM had no live primary (always more than 0), a primary that
/// loses its secondary goes on serving and records no gap.
/// </summary>
public static class FailoverKinds
{
    public const string Primary = "primary";
    public const string Secondary = "secondary";

    public static readonly IReadOnlyList<string> All = [Primary, Secondary];

    public static string Of(FailoverRecord record) => record.GapMs > 0 ? Primary : Secondary;
}
