using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Serialization;
using Akka.Util;
using Lockstep.Replication.Journal;

namespace Lockstep.Actors.Journal;

/// <summary>
/// A journal plugin that writes straight into the journal table of Akka.Persistence.Sql (the node's default journal)
/// through <see cref="JournalRowStore"/>: one thread, one open connection, group commit. The VMs' log writers use it
/// (<c>lockstep.vm-log.journal-plugin</c>), since a durable VM's answers wait for their commits; the rows are the
/// plugin's own format, so its read journal (the rebuild, exports) and its snapshot store work with them unchanged.
/// </summary>
public sealed class DirectSqlJournal : AsyncWriteJournal
{
    /// <summary>Where this plugin's settings are (<see cref="Settings"/>); node.conf's <c>lockstep.vm-log.journal-plugin</c> names it.</summary>
    public const string PluginId = "lockstep.direct-sql-journal";

    /// <summary>The plugin's settings on one store, writing into the table of Akka.Persistence.Sql's journal (which creates it).</summary>
    /// <param name="provider">"sqlite" or "postgres".</param>
    public static Config Settings(string provider, string connectionString) => ConfigurationFactory.ParseString($$"""
        {{PluginId}} {
          class = "{{typeof(DirectSqlJournal).FullName}}, {{typeof(DirectSqlJournal).Assembly.GetName().Name}}"
          plugin-dispatcher = "akka.actor.default-dispatcher"
          provider = "{{provider}}"
          connection-string = "{{connectionString}}"
          table-owner = "akka.persistence.journal.sql"
        }
        """);

    private readonly JournalRowStore _store;
    private readonly Akka.Serialization.Serialization _serialization;
    private readonly string _writer = Guid.NewGuid().ToString("N");
    private readonly string _tableOwner;

    public DirectSqlJournal(Config config)
    {
        _store = JournalRowStore.For(config.GetString("provider"), config.GetString("connection-string"));
        _tableOwner = config.GetString("table-owner");
        _serialization = Context.System.Serialization;
    }

    protected override void PreStart()
    {
        base.PreStart();
        // The table is the plugin's, created when it starts (auto-initialize): start it, and the store waits for its table.
        Persistence.Instance.Apply(Context.System).JournalFor(_tableOwner);
        _store.Start(TimeSpan.FromMinutes(1));
    }

    protected override void PostStop()
    {
        _store.Dispose();
        base.PostStop();
    }

    protected override async Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var rows = new List<JournalRow>();
        var results = new List<Exception?>();
        bool rejected = false;
        long now = DateTime.UtcNow.Ticks;
        foreach (var write in messages)
        {
            // An atomic write goes whole or not at all: one that does not serialize is rejected, the others still go.
            try
            {
                var its = ((IImmutableList<IPersistentRepresentation>)write.Payload).Select(p => RowOf(p, now)).ToList();
                rows.AddRange(its);
                results.Add(null);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                results.Add(e);
                rejected = true;
            }
        }
        if (rows.Count > 0) await _store.Write(rows);
        return rejected ? results.ToImmutableList() : null!; // null: every write went (the plugin API's "no rejections")
    }

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken) => _store.DeleteTo(persistenceId, toSequenceNr);

    public override Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken) => _store.HighestSequenceNr(persistenceId);

    public override async Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max,
        Action<IPersistentRepresentation> recoveryCallback)
    {
        foreach (var row in await _store.Read(persistenceId, fromSequenceNr, toSequenceNr, max))
        {
            object payload = _serialization.Deserialize(row.Message, row.SerializerId, row.Manifest);
            recoveryCallback(new Persistent(payload, row.SequenceNr, persistenceId, row.Manifest, false, ActorRefs.NoSender, row.WriterUuid, row.CreatedTicks));
        }
    }

    // As Akka.Persistence.Sql writes a row (its ByteArrayJournalSerializer), so that its reader takes it back.
    private JournalRow RowOf(IPersistentRepresentation persistent, long now)
    {
        var serializer = _serialization.FindSerializerFor(persistent.Payload);
        string manifest = serializer switch
        {
            SerializerWithStringManifest named => named.Manifest(persistent.Payload),
            { IncludeManifest: true } => persistent.Payload.GetType().TypeQualifiedName(),
            _ => "",
        };
        return new JournalRow(persistent.PersistenceId, persistent.SequenceNr, serializer.ToBinary(persistent.Payload), manifest, serializer.Identifier,
            _writer, persistent.Timestamp == 0 ? now : persistent.Timestamp);
    }
}
