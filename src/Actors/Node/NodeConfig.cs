using Akka.Configuration;
using Akka.Persistence.Sql;
using Lockstep.Replication.Claims;

namespace Lockstep.Actors.Node;

/// <summary>Builds a node's configuration: node.conf from the hocon folder, the options' own HOCON over it, the flags on top.</summary>
public static class NodeConfig
{
    public static Config Build(NodeOptions options, JournalLocation journal)
    {
        string file = Path.Combine(options.HoconDirectory ?? "hocon", "node.conf");
        if (!File.Exists(file)) throw new FileNotFoundException($"node configuration {file} not found (set LOCKSTEP_HOCON to the hocon folder)");
        var (provider, connection) = journal.Persistence;
        string seeds = string.Join(", ", options.Seeds.Select(s => $"\"{Security.ClusterTls.Protocol(options.Tls)}://lockstep@{s}\""));
        var overrides = ConfigurationFactory.ParseString($$"""
            akka.remote.dot-netty.tcp.hostname = "{{options.Hostname}}"
            akka.remote.dot-netty.tcp.port = {{options.Port}}
            akka.cluster.seed-nodes = [{{seeds}}]
            akka.persistence.journal.sql.connection-string = "{{connection}}"
            akka.persistence.snapshot-store.sql.connection-string = "{{connection}}"
            akka.persistence.journal.sql.provider-name = "{{provider}}"
            akka.persistence.snapshot-store.sql.provider-name = "{{provider}}"
            akka.persistence.query.journal.sql.connection-string = "{{connection}}"
            akka.persistence.query.journal.sql.provider-name = "{{provider}}"
            akka.persistence.query.journal.sql.write-plugin = "akka.persistence.journal.sql"
            """).WithFallback(Journal.DirectSqlJournal.Settings(journal.Kind == JournalKind.Sqlite ? "sqlite" : "postgres", connection));
        if (options.Tls is not null) overrides = Security.ClusterTls.TransportConfig().WithFallback(overrides);
        if (!string.IsNullOrWhiteSpace(options.Hocon)) overrides = overrides.WithFallback(ConfigurationFactory.ParseString(options.Hocon));
        return overrides
            .WithFallback(ConfigurationFactory.ParseString(File.ReadAllText(file)))
            .WithFallback(SqlPersistence.DefaultConfiguration);
    }
}
