namespace Lockstep.Host.Cli.Client;

/// <summary>The gateway refused a request (a ControlError reply) or answered something this program cannot use.</summary>
public sealed class GatewayException(string message) : Exception(message);
