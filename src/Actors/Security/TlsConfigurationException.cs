namespace Lockstep.Actors.Security;

/// <summary>A TLS certificate, its password or the cluster CA cannot be used as given.</summary>
public sealed class TlsConfigurationException(string message) : Exception(message);
