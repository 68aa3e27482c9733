namespace Lockstep.Actors.Node;

/// <summary>How a `lockstep node` process is started (flags override the HOCON files).</summary>
/// <param name="Hostname">Address the node binds and advertises (default loopback).</param>
/// <param name="Port">Akka.Remote port.</param>
/// <param name="Seeds">"host:port" of seed nodes; empty means this node seeds itself.</param>
/// <param name="Journal">"sqlite:PATH" or "postgres:CONNECTION-STRING".</param>
/// <param name="HoconDirectory">Folder with node.conf (the repository's hocon/).</param>
/// <param name="Hocon">HOCON laid over node.conf (under the flags): the environment variable LOCKSTEP_NODE_HOCON of `lockstep node`.</param>
/// <param name="Tls">When set, Akka.Remote runs over mutual TLS pinned to the cluster CA (plain text is refused).</param>
public sealed record NodeOptions(string Hostname, int Port, IReadOnlyList<string> Seeds, string Journal, string? HoconDirectory, Security.ClusterTls? Tls = null, string? Hocon = null);
