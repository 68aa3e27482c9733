using System.Globalization;
using Akka.Actor;

namespace Lockstep.Host.Cli.Client;

/// <summary>The cluster nodes named by --contact, as receptionist paths for ClusterClient.</summary>
public sealed class ContactPoints
{
    public const string ClusterSystemName = "lockstep";
    public const string Default = "127.0.0.1:4053";

    private ContactPoints(IReadOnlyList<string> endpoints)
    {
        Endpoints = endpoints;
    }

    /// <summary>"host:port" of each contact, as given.</summary>
    public IReadOnlyList<string> Endpoints { get; }

    /// <summary>The receptionists' paths; <paramref name="protocol"/> is akka.tcp, or akka.ssl.tcp for a TLS cluster.</summary>
    public IReadOnlyList<ActorPath> Receptionists(string protocol) =>
        Endpoints.Select(e => ActorPath.Parse($"{protocol}://{ClusterSystemName}@{e}/system/receptionist")).ToList();

    public override string ToString() => string.Join(",", Endpoints);

    /// <summary>Parses "HOST:PORT[,HOST:PORT...]".</summary>
    public static ContactPoints Parse(string text)
    {
        var endpoints = new List<string>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int colon = part.LastIndexOf(':');
            if (colon <= 0 || colon == part.Length - 1)
                throw new UsageException($"--contact {part}: expected HOST:PORT");
            string host = part[..colon];
            if (!int.TryParse(part[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
                throw new UsageException($"--contact {part}: port must be a number from 1 to 65535");
            if (host.Any(c => char.IsWhiteSpace(c) || c is '/' or '@'))
                throw new UsageException($"--contact {part}: '{host}' is not a host name");
            endpoints.Add($"{host}:{port}");
        }
        if (endpoints.Count == 0) throw new UsageException("--contact needs at least one HOST:PORT");
        return new ContactPoints(endpoints.Distinct().ToList());
    }
}
