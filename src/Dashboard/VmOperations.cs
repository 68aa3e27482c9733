using System.Net;
using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>The operations the dashboard's buttons post (POST /api/vm/NAME/OPERATION), as the control requests the CLI sends.</summary>
public static class VmOperations
{
    public const string MigrateSecondary = "migrate-secondary";

    private static readonly Dictionary<string, Func<string, IControlRequest>> Simple = new(StringComparer.Ordinal)
    {
        ["failover"] = name => new TestFailover(name),
        ["restart-secondary"] = name => new RestartSecondary(name),
        ["protect"] = name => new SetProtection(name, ProtectionMode.On),
        ["unprotect"] = name => new SetProtection(name, ProtectionMode.Off),
        ["suspend-protection"] = name => new SetProtection(name, ProtectionMode.Suspended),
        ["resume-protection"] = name => new SetProtection(name, ProtectionMode.On),
        ["pause"] = name => new PauseVm(name),
        ["resume"] = name => new ResumeVm(name),
        ["stop"] = name => new StopVm(name),
    };

    public static IEnumerable<string> Names => Simple.Keys.Append(MigrateSecondary);

    /// <summary>The request for <paramref name="operation"/> on <paramref name="vm"/>; <paramref name="node"/> only for migrate-secondary.</summary>
    /// <exception cref="ArgumentException">No such operation, or migrate-secondary without a node.</exception>
    public static IControlRequest Request(string operation, string vm, string? node)
    {
        if (operation == MigrateSecondary)
        {
            if (string.IsNullOrWhiteSpace(node)) throw new ArgumentException("migrate-secondary needs the node to move the secondary to: {\"node\": \"host:port\"}");
            return new MigrateSecondary(vm, node.Trim());
        }
        if (Simple.TryGetValue(operation, out var make)) return make(vm);
        throw new ArgumentException($"no operation '{operation}'; the operations are {string.Join(", ", Names)}");
    }

    /// <summary>The HTTP status a refusal is answered with.</summary>
    public static HttpStatusCode StatusOf(ControlErrorKind kind) => kind switch
    {
        ControlErrorKind.Invalid or ControlErrorKind.UnknownNode => HttpStatusCode.BadRequest,
        ControlErrorKind.UnknownVm => HttpStatusCode.NotFound,
        ControlErrorKind.Stopped => HttpStatusCode.Gone,
        ControlErrorKind.AlreadyExists or ControlErrorKind.NotNow => HttpStatusCode.Conflict,
        ControlErrorKind.Busy => HttpStatusCode.TooManyRequests,
        _ => HttpStatusCode.ServiceUnavailable,
    };
}
