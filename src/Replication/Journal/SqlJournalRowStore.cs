using System.Data.Common;

namespace Lockstep.Replication.Journal;

/// <summary>
/// The statements on the plugin's journal table (Akka.Persistence.Sql's default mapping: table <c>journal</c>), written
/// once for both databases; a dialect gives the parameter prefix and how a boolean is spelt.
/// </summary>
public abstract class SqlJournalRowStore(string threadName, char parameter, string yes, string no) : JournalRowStore(threadName)
{
    private readonly string _insert =
        $"INSERT INTO journal (created, deleted, persistence_id, sequence_number, message, manifest, identifier, writer_uuid) " +
        $"VALUES ({parameter}c, {no}, {parameter}p, {parameter}s, {parameter}m, {parameter}f, {parameter}i, {parameter}w)";

    protected override void Insert(DbConnection connection, DbTransaction transaction, IReadOnlyList<JournalRow> rows)
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
    protected override long HighestSequenceNr(DbConnection connection, string persistenceId)
    {
        using var query = Command(connection, null, $"SELECT MAX(sequence_number) FROM journal WHERE persistence_id = {parameter}p");
        Add(query, "p").Value = persistenceId;
        return query.ExecuteScalar() is { } value and not DBNull ? Convert.ToInt64(value) : 0;
    }

    protected override IReadOnlyList<JournalRow> Read(DbConnection connection, string persistenceId, long from, long to, long max)
    {
        var rows = new List<JournalRow>();
        if (max <= 0) return rows;
        using var query = Command(connection, null,
            "SELECT sequence_number, message, manifest, identifier, writer_uuid, created FROM journal " +
            $"WHERE persistence_id = {parameter}p AND sequence_number >= {parameter}a AND sequence_number <= {parameter}b AND deleted = {no} " +
            $"ORDER BY sequence_number LIMIT {parameter}n");
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

    protected override void DeleteTo(DbConnection connection, DbTransaction transaction, string persistenceId, long to)
    {
        using var mark = Command(connection, transaction,
            $"UPDATE journal SET deleted = {yes} WHERE persistence_id = {parameter}p AND sequence_number <= {parameter}t");
        Add(mark, "p").Value = persistenceId;
        Add(mark, "t").Value = to;
        mark.ExecuteNonQuery();
        using var delete = Command(connection, transaction,
            $"DELETE FROM journal WHERE persistence_id = {parameter}p AND sequence_number <= {parameter}t AND sequence_number < " +
            $"(SELECT MAX(sequence_number) FROM journal WHERE persistence_id = {parameter}p AND deleted = {yes})");
        Add(delete, "p").Value = persistenceId;
        Add(delete, "t").Value = to;
        delete.ExecuteNonQuery();
    }

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
        added.ParameterName = parameter + name;
        command.Parameters.Add(added);
        return added;
    }
}
