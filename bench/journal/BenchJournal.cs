using Akka.Configuration;
using Akka.Persistence.Sql;

namespace Lockstep.Bench.Journal;

/// <summary>The journal the benchmarks write to: node.conf's settings on a store of their choosing.</summary>
internal static class BenchJournal
{
    /// <summary>The connection string of a SQLite file (a new temporary one for "temp"), in WAL mode as a node sets it (SqliteClaimStore).</summary>
    public static string SqliteFile(string fileOrTemp, string tempPrefix)
    {
        string file = fileOrTemp != "temp" ? fileOrTemp : Path.Combine(Directory.CreateTempSubdirectory(tempPrefix).FullName, "journal.db");
        string connection = $"Data Source={file};Default Timeout=30";
        using var wal = new Microsoft.Data.Sqlite.SqliteConnection(connection);
        wal.Open();
        using var pragma = wal.CreateCommand();
        pragma.CommandText = "PRAGMA journal_mode=WAL";
        pragma.ExecuteNonQuery();
        return connection;
    }

    /// <summary>
    /// A local actor system's configuration: node.conf from <paramref name="hocon"/> with its journal and snapshot store
    /// on <paramref name="connection"/> (<paramref name="provider"/>: "SQLite.MS" or "PostgreSQL.15"), and
    /// <paramref name="overrides"/> (key=value) under akka.persistence.journal.sql. The VMs' log writers write through
    /// <paramref name="vmLogPlugin"/> (node.conf's, DirectSqlJournal, unless given; "" for the SQL plugin itself).
    /// </summary>
    public static Config Config(string hocon, string connection, string provider, IEnumerable<string> overrides, string? vmLogPlugin = null)
    {
        var node = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(hocon, "node.conf")));
        return ConfigurationFactory.ParseString($$"""
            akka.actor.provider = local
            akka.extensions = []
            akka.loglevel = WARNING
            akka.persistence.journal.sql.connection-string = "{{connection}}"
            akka.persistence.journal.sql.provider-name = "{{provider}}"
            akka.persistence.snapshot-store.sql.connection-string = "{{connection}}"
            akka.persistence.snapshot-store.sql.provider-name = "{{provider}}"
            {{(vmLogPlugin is null ? "" : $"lockstep.vm-log.journal-plugin = \"{vmLogPlugin}\"")}}
            {{string.Join("\n", overrides.Select(o => $"akka.persistence.journal.sql.{o}"))}}
            """).WithFallback(Lockstep.Actors.Journal.DirectSqlJournal.Settings(provider.StartsWith("SQLite", StringComparison.Ordinal) ? "sqlite" : "postgres", connection))
            .WithFallback(node).WithFallback(SqlPersistence.DefaultConfiguration);
    }
}
