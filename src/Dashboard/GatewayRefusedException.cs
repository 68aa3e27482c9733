using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>The gateway refused a request (or nothing answered it); <see cref="Error"/> says why, in the gateway's terms.</summary>
public sealed class GatewayRefusedException(ControlError error) : Exception(error.Message)
{
    public ControlError Error { get; } = error;
}
