namespace Lockstep.Dashboard;

/// <summary>A cluster member as the dashboard shows it; Node is "host:port", as `vm status` names nodes.</summary>
/// <param name="Roles">The member's Akka cluster roles (none are configured today: an empty list).</param>
/// <param name="Primaries">VMs whose primary runs there, by the last poll.</param>
/// <param name="Secondaries">VMs whose (protecting) secondary runs there, by the last poll.</param>
public sealed record MemberView(
    string Node, string Status, IReadOnlyList<string> Roles, bool Leader, bool Reachable, bool Self, int Primaries, int Secondaries);
