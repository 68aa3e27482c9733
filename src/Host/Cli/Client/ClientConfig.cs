using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Cluster.Tools.Client;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Configuration;
using Akka.Event;
using Lockstep.Actors.Security;

namespace Lockstep.Host.Cli.Client;

/// <summary>The setup of the client ActorSystem: hocon/client.conf, found and loaded, and its log filter.</summary>
public static class ClientConfig
{
    public const string FileName = "client.conf";

    // Used when the program runs away from the repository (an installed copy); keep in step with hocon/client.conf.
    private const string Fallback = """
        akka {
          loglevel = OFF
          stdout-loglevel = OFF
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
          actor {
            provider = remote
            serializers { hyperion = "Akka.Serialization.HyperionSerializer, Akka.Serialization.Hyperion" }
            serialization-bindings { "System.Object" = hyperion }
          }
          remote {
            dot-netty.tcp { hostname = 127.0.0.1, port = 0, maximum-frame-size = 16MiB }
            log-remote-lifecycle-events = off
          }
          cluster.client {
            heartbeat-interval = 100ms
            acceptable-heartbeat-pause = 300ms
            establishing-get-contacts-interval = 100ms
            reconnect-timeout = off
          }
          coordinated-shutdown {
            default-phase-timeout = 2s
            exit-clr = off
          }
        }
        """;

    // Contacts that are down, and nodes dying during a failover, are expected here: the command says what it
    // could not reach in its own words, so remoting's connection warnings would only add noise.
    private static readonly Regex ConnectionNoise = new(
        "unreachable remote address|Association with remote system|is now gated|Disassociated|quarantin",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);

    /// <param name="tls">Null: plain text. Otherwise the client's certificate and the cluster CA for mutual TLS.</param>
    public static ActorSystemSetup Setup(ClusterTls? tls = null)
    {
        var config = tls is null ? Load() : ClusterTls.TransportConfig().WithFallback(Load());
        var setup = BootstrapSetup.Create()
            .WithConfig(config)
            .And(new LogFilterBuilder().ExcludeMessageRegex(ConnectionNoise).Build());
        return tls is null ? setup : setup.And(tls.Setup());
    }

    public static Config Load()
    {
        string text = Locate() is { } path ? ReadFile(path) : Fallback;
        // The cluster-tools serializers must be registered when the system starts: the receptionist
        // answers with its own message formats, which we could not decode otherwise.
        return ConfigurationFactory.ParseString(text)
            .WithFallback(ClusterClientReceptionist.DefaultConfig())
            .WithFallback(DistributedPubSub.DefaultConfig());
    }

    /// <summary>$LOCKSTEP_HOCON (the folder, or the file itself), else the nearest hocon/ folder above the program.</summary>
    public static string? Locate()
    {
        if (Environment.GetEnvironmentVariable("LOCKSTEP_HOCON") is { Length: > 0 } configured)
        {
            string candidate = Directory.Exists(configured) ? Path.Combine(configured, FileName) : configured;
            if (File.Exists(candidate)) return candidate;
            throw new UsageException($"LOCKSTEP_HOCON={configured}: no {FileName} there");
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "hocon", FileName);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    private static string ReadFile(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read {path}: {e.Message}");
        }
    }
}
