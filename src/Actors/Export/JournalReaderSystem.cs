using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Lockstep.Replication.Claims;

namespace Lockstep.Actors.Export;

/// <summary>
/// A local ActorSystem (no cluster, no remoting) that reads a cluster's journal directly, for
/// `vm export --journal` when no node runs. It never creates tables: a wrong path or database is
/// reported, not silently turned into an empty journal.
/// </summary>
public static class JournalReaderSystem
{
    public static ActorSystem Create(JournalLocation journal)
    {
        if (journal.Kind == JournalKind.Sqlite && !File.Exists(journal.Target))
            throw new ExportRangeException($"no journal at {journal.Target}");
        var (provider, connection) = journal.Persistence;
        var config = ConfigurationFactory.ParseString($$"""
            akka.loglevel = OFF
            akka.stdout-loglevel = OFF
            akka.log-dead-letters = off
            akka.actor.serializers.hyperion = "Akka.Serialization.HyperionSerializer, Akka.Serialization.Hyperion"
            akka.actor.serialization-bindings { "System.Object" = hyperion }
            akka.actor.serialization-settings.hyperion.disallow-unsafe-type = true
            akka.persistence.journal.plugin = "akka.persistence.journal.sql"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
            akka.persistence.journal.sql { connection-string = "{{connection}}", provider-name = "{{provider}}", auto-initialize = off }
            akka.persistence.snapshot-store.sql { connection-string = "{{connection}}", provider-name = "{{provider}}", auto-initialize = off }
            akka.persistence.query.journal.sql { connection-string = "{{connection}}", provider-name = "{{provider}}", write-plugin = "akka.persistence.journal.sql" }
            """).WithFallback(SqlPersistence.DefaultConfiguration);
        return ActorSystem.Create("lockstep-export", config);
    }
}
