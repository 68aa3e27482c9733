namespace Lockstep.Replication.Claims;

public enum JournalKind { Sqlite, Postgres }

/// <summary>Where a node's shared storage lives: the --journal flag, parsed.</summary>
public sealed record JournalLocation(JournalKind Kind, string Target)
{
    public static JournalLocation Parse(string journal)
    {
        if (journal.StartsWith("sqlite:", StringComparison.Ordinal) && journal.Length > "sqlite:".Length)
            return new JournalLocation(JournalKind.Sqlite, Path.GetFullPath(journal["sqlite:".Length..]));
        if (journal.StartsWith("postgres:", StringComparison.Ordinal) && journal.Length > "postgres:".Length)
            return new JournalLocation(JournalKind.Postgres, journal["postgres:".Length..]);
        throw new ArgumentException($"--journal must be sqlite:PATH or postgres:CONNECTION-STRING, not '{journal}'");
    }

    /// <summary>
    /// Where the claims live. PostgreSQL: the journal's database (row locks keep them apart). SQLite: a file
    /// of their own beside the journal, because a node frozen in the middle of a journal write keeps the
    /// whole journal file locked, and the claim that would let its secondary take over must not wait on it.
    /// </summary>
    public string ClaimsTarget => Kind == JournalKind.Sqlite
        ? Path.Combine(Path.GetDirectoryName(Target) ?? ".", Path.GetFileNameWithoutExtension(Target) + ".claims" + Path.GetExtension(Target))
        : Target;

    /// <summary>The Akka.Persistence.Sql (linq2db) provider name and connection string for this storage.</summary>
    public (string Provider, string ConnectionString) Persistence => Kind == JournalKind.Sqlite
        ? ("SQLite.MS", $"Data Source={Target};Default Timeout=30")
        : ("PostgreSQL.15", Target);
}
