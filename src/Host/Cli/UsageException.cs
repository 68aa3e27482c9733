namespace Lockstep.Host.Cli;

/// <summary>A command line that cannot be carried out as written.</summary>
public sealed class UsageException(string message) : Exception(message);
