namespace Lockstep.Host.Cli.Client;

/// <summary>No cluster node answered in time; the message is the one line shown to the user.</summary>
public sealed class ClusterUnavailableException(string message) : Exception(message);
