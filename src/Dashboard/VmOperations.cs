using System.Net;
using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>The operations the dashboard's buttons post (POST /api/vm/NAME/OPERATION), as the control requests the CLI sends.</summary>
public static class VmOperations
{
    public const string MigrateSecondary = "migrate-secondary";
    public const string MigratePrimary = "migrate-primary";

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

    public static IEnumerable<string> Names => Simple.Keys.Append(MigrateSecondary).Append(MigratePrimary);

    /// <summary>Operations that take the node (migrate-secondary, migrate-primary).</summary>
    public static bool TakesNode(string operation) => operation is MigrateSecondary or MigratePrimary;

    /// <summary>The request for <paramref name="operation"/> on <paramref name="vm"/>; <paramref name="node"/> only for the migrations.</summary>
    /// <exception cref="ArgumentException">No such operation, or a migration without a node.</exception>
    public static IControlRequest Request(string operation, string vm, string? node)
    {
        if (TakesNode(operation))
        {
            string replica = operation == MigrateSecondary ? "secondary" : "primary";
            if (string.IsNullOrWhiteSpace(node)) throw new ArgumentException($"{operation} needs the node to move the {replica} to: {{\"node\": \"host:port\"}}");
            return operation == MigrateSecondary ? new MigrateSecondary(vm, node.Trim()) : new MigratePrimary(vm, node.Trim());
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
