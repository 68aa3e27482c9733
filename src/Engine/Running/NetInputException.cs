namespace Lockstep.Engine.Running;

/// <summary>A <c>--net-input</c> file that cannot be delivered as it is; the message names the file and the line.</summary>
public sealed class NetInputException(string message) : Exception(message);
