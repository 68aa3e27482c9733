namespace Lockstep.Engine.Recording;

/// <summary>A log that cannot be trusted: truncated, corrupt or not a log at all. The message names the place.</summary>
public sealed class LogFormatException(string message) : Exception(message);
