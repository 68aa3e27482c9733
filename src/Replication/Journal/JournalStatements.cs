using System.Data.Common;

namespace Lockstep.Replication.Journal;

/// <summary>
/// The statements on the plugin's journal table (Akka.Persistence.Sql's default mapping: table <c>journal</c>), written
/// once for both databases; a dialect differs only in its parameter prefix and how it spells a boolean.
/// </summary>
public sealed class JournalStatements
{
    public static readonly JournalStatements Sqlite = new('$', "1", "0");
    public static readonly JournalStatements Postgres = new('@', "true", "false");

    private readonly char _parameter;
    private readonly string _yes, _no;
    private readonly string _insert;

    private JournalStatements(char parameter, string yes, string no)
    {
        _parameter = parameter;
        _yes = yes;
        _no = no;
        _insert = "INSERT INTO journal (created, deleted, persistence_id, sequence_number, message, manifest, identifier, writer_uuid) " +
            $"VALUES ({P("c")}, {no}, {P("p")}, {P("s")}, {P("m")}, {P("f")}, {P("i")}, {P("w")})";
    }

    /// <summary>Throws (a <see cref="DbException"/>) while the table is not there.</summary>
    public static void ProbeTable(DbConnection connection)
    {
        using var probe = Command(connection, null, "SELECT 1 FROM journal WHERE 1 = 0");
        probe.ExecuteNonQuery();
    }

    public void Insert(DbConnection connection, DbTransaction transaction, IReadOnlyList<JournalRow> rows)
    {
        using var insert = Command(connection, transaction, _insert);
        var created = Add(insert, "c");
        var persistenceId = Add(insert, "p");
        var sequenceNr = Add(insert, "s");
        var message = Add(insert, "m");
        var manifest = Add(insert, "f");
        var serializer = Add(insert, "i");
        var writer = Add(insert, "w");
        foreach (var row in rows)
        {
            created.Value = row.CreatedTicks;
            persistenceId.Value = row.PersistenceId;
            sequenceNr.Value = row.SequenceNr;
            message.Value = row.Message;
            manifest.Value = row.Manifest;
            serializer.Value = row.SerializerId;
            writer.Value = row.WriterUuid;
            insert.ExecuteNonQuery();
        }
    }

    // Deleted rows count: the marker the delete leaves keeps the highest sequence number.
    public long HighestSequenceNr(DbConnection connection, string persistenceId)
    {
        using var query = Command(connection, null, $"SELECT MAX(sequence_number) FROM journal WHERE persistence_id = {P("p")}");
        Add(query, "p").Value = persistenceId;
        return query.ExecuteScalar() is { } value and not DBNull ? Convert.ToInt64(value) : 0;
    }

    public IReadOnlyList<JournalRow> Read(DbConnection connection, string persistenceId, long from, long to, long max)
    {
        var rows = new List<JournalRow>();
        if (max <= 0) return rows;
        using var query = Command(connection, null,
            "SELECT sequence_number, message, manifest, identifier, writer_uuid, created FROM journal " +
            $"WHERE persistence_id = {P("p")} AND sequence_number >= {P("a")} AND sequence_number <= {P("b")} AND deleted = {_no} " +
            $"ORDER BY sequence_number LIMIT {P("n")}");
        Add(query, "p").Value = persistenceId;
        Add(query, "a").Value = from;
        Add(query, "b").Value = to;
        Add(query, "n").Value = max;
        using var reader = query.ExecuteReader();
        while (reader.Read())
            rows.Add(new JournalRow(persistenceId, reader.GetInt64(0), (byte[])reader.GetValue(1), reader.IsDBNull(2) ? "" : reader.GetString(2),
                reader.IsDBNull(3) ? 0 : reader.GetInt32(3), reader.IsDBNull(4) ? "" : reader.GetString(4), reader.GetInt64(5)));
        return rows;
    }

    /// <summary>Marks the rows up to <paramref name="to"/> deleted, then removes all of them but the highest (the marker).</summary>
    public void DeleteTo(DbConnection connection, DbTransaction transaction, string persistenceId, long to)
    {
        using var mark = Command(connection, transaction,
            $"UPDATE journal SET deleted = {_yes} WHERE persistence_id = {P("p")} AND sequence_number <= {P("t")}");
        Add(mark, "p").Value = persistenceId;
        Add(mark, "t").Value = to;
        mark.ExecuteNonQuery();
        using var delete = Command(connection, transaction,
            $"DELETE FROM journal WHERE persistence_id = {P("p")} AND sequence_number <= {P("t")} AND sequence_number < " +
            $"(SELECT MAX(sequence_number) FROM journal WHERE persistence_id = {P("p")} AND deleted = {_yes})");
        Add(delete, "p").Value = persistenceId;
        Add(delete, "t").Value = to;
        delete.ExecuteNonQuery();
    }

    private string P(string name) => _parameter + name;

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }

    private DbParameter Add(DbCommand command, string name)
    {
        var added = command.CreateParameter();
        added.ParameterName = P(name);
        command.Parameters.Add(added);
        return added;
    }
}
