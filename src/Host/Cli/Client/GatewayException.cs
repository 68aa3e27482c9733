using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>The gateway refused a request (a ControlError reply, <see cref="Kind"/> set) or answered something this program cannot use (null).</summary>
public sealed class GatewayException(string message, ControlErrorKind? kind = null) : Exception(message)
{
    public ControlErrorKind? Kind { get; } = kind;
}
