namespace Lockstep.Replication.Channel;

/// <summary>A frame that does not decode: unknown type, wrong length, a corrupt log segment inside.</summary>
public sealed class FrameFormatException(string message, Exception? inner = null) : Exception(message, inner);
