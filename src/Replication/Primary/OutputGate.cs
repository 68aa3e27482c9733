using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Replication.Stats;

namespace Lockstep.Replication.Primary;

/// <summary>
/// The output rule: an output made at instruction P leaves only once the secondary has acknowledged
/// a log horizon beyond P. A secondary being seeded does not hold outputs up: until it holds the snapshot and has been
/// given authority at a position (<see cref="Authorize"/>), it may not take over, so outputs leave as if the VM were
/// alone; from that position on they wait for its acks. The VM thread puts outputs in and changes the mode; the channel's reader
/// thread brings acks. Every field is under the one lock, and outputs are handed on under it too,
/// so they leave in order whichever thread releases them.
/// A durable VM's output also waits for the journal to have committed every log entry recorded before it
/// (<see cref="Journaled"/>, a fact the journal's actor passes in), whatever the mode: then both hosts may die.
/// </summary>
public sealed class OutputGate(Action<MachineOutput> release, bool durable = false)
{
    /// <summary>How long each output waited in the gate, from the slice that made it (the machine stops at each output) to its release.</summary>
    public LatencyHistogram HoldTimes { get; } = new();

    private enum Mode
    {
        /// <summary>No secondary, and this side holds the generation: outputs leave at once.</summary>
        Alone,
        /// <summary>A secondary is being given the snapshot: it may not take over yet, so outputs still leave at once.</summary>
        Seeding,
        /// <summary>The secondary holds the state and has been given authority: outputs wait for its acks.</summary>
        Linked,
        /// <summary>The secondary was lost and the next generation is not claimed yet: nothing leaves.</summary>
        Holding,
    }

    // Set by a loss, cleared only by GoAlone (the claim won): until then nothing leaves, even through a
    // secondary attached meanwhile, since another side may be live with the lost one's state.
    private bool _claimPending;

    private readonly object _lock = new();
    private readonly Queue<(MachineOutput Output, long HeldAt)> _held = new();
    // Durable: for each held output, the log entries that must be in the journal before it leaves.
    private readonly Queue<long> _heldEntries = new();
    // Durable: the journal holds every entry before this one (-1: nothing known yet, so nothing leaves).
    private long _journaledEntries = -1;
    private readonly Queue<(ulong Horizon, long Timestamp)> _shipped = new();
    private Mode _mode = Mode.Alone;
    // The secondary whose acks count; frames from any other (a dismissed one's reader may still deliver one) are ignored.
    private object? _link;
    // Where the snapshot the seeded secondary starts from was taken: only an ack reaching it shows it holds the state.
    private ulong _snapshotAt = ulong.MaxValue;
    private bool _snapshotHeld;
    // Where the secondary was given authority (ulong.MaxValue: not yet); its answer for this position makes it in sync.
    private ulong _authorityAt = ulong.MaxValue;
    private bool _inSync;
    private ulong _ackedHorizon;
    private ulong _releasedSeq;
    private double _lagMs;

    /// <summary>The first output sequence number not yet released (what a secondary may drop from its own copies).</summary>
    public ulong ReleasedSeq { get { lock (_lock) return _releasedSeq; } }

    /// <summary>How far the secondary's replay trails the primary, from the last ack.</summary>
    public double LagMs { get { lock (_lock) return _lagMs; } }

    /// <summary>Held outputs beyond which the guest is paused (<see cref="IsFull"/>) until they leave: a guest that
    /// transmits while nothing can leave (no ack, or no claim yet) costs bounded memory.</summary>
    public const int MaxHeldOutputs = 16_384;

    /// <summary>Held bytes beyond which the guest is paused, as <see cref="MaxHeldOutputs"/>.</summary>
    public const long MaxHeldBytes = 32L << 20;

    private long _heldBytes;

    /// <summary>So many outputs wait that the guest should make no more until some leave.</summary>
    public bool IsFull { get { lock (_lock) return _held.Count >= MaxHeldOutputs || _heldBytes >= MaxHeldBytes; } }

    /// <summary>Outputs wait for an ack (or for the next generation).</summary>
    public bool HasHeld { get { lock (_lock) return _held.Count > 0; } }

    public bool IsCurrent(object link) { lock (_lock) return link == _link; }

    /// <param name="releasedSeq">Where a promoted or rebuilt primary's predecessor had got to.</param>
    public void Start(ulong releasedSeq) { lock (_lock) _releasedSeq = releasedSeq; }

    /// <summary>Outputs wait for the journal (the VM was created durable).</summary>
    public bool Durable => durable;

    /// <summary>The journal holds every log entry before this one (-1: not known yet).</summary>
    public long JournaledEntries { get { lock (_lock) return _journaledEntries; } }

    /// <summary>How many outputs wait now (for an ack, a claim or the journal).</summary>
    public int HeldCount { get { lock (_lock) return _held.Count; } }

    /// <summary>VM thread: outputs the machine just made, after <paramref name="entries"/> log entries were recorded.</summary>
    public void Hold(List<MachineOutput> outputs, long entries = 0)
    {
        lock (_lock)
        {
            long now = Stopwatch.GetTimestamp();
            foreach (var output in outputs)
            {
                _held.Enqueue((output, now));
                if (durable) _heldEntries.Enqueue(entries);
                _heldBytes += output.Data.Length;
            }
            ReleaseReady();
        }
    }

    /// <summary>VM thread: a secondary is being attached; its acks count from now, but it is not yet in sync.</summary>
    public void Link(object link)
    {
        lock (_lock)
        {
            _link = link;
            _snapshotAt = ulong.MaxValue;
            _snapshotHeld = false;
            _authorityAt = ulong.MaxValue;
            _inSync = false;
        }
    }

    /// <summary>VM thread, in the attach pause: the snapshot was taken at <paramref name="position"/>; outputs still leave at once.</summary>
    public void Seeding(object link, ulong position)
    {
        lock (_lock)
        {
            if (link != _link) return;
            _snapshotAt = position;
            _mode = Mode.Seeding;
        }
    }

    /// <summary>
    /// VM thread, with everything up to <paramref name="position"/> shipped: outputs made from here wait for the
    /// secondary's acks; those made before left already. False when <paramref name="link"/> is no longer the one
    /// seeded or does not hold the snapshot yet.
    /// </summary>
    public bool Authorize(object link, ulong position)
    {
        lock (_lock)
        {
            if (link != _link || _mode != Mode.Seeding || !_snapshotHeld) return false;
            _authorityAt = position;
            if (_ackedHorizon < position) _ackedHorizon = position; // what was made before it is released already
            _mode = Mode.Linked;
            return true;
        }
    }

    /// <summary>Reader thread: the secondary took the authority given at <paramref name="position"/>. True once: it is in sync (the VM is protected).</summary>
    public bool AuthorityTaken(object link, ulong position)
    {
        lock (_lock)
        {
            if (link != _link || _mode != Mode.Linked || _inSync || position != _authorityAt) return false;
            _inSync = true;
            return true;
        }
    }

    /// <summary>VM thread: an attach that never got to the pause is dropped; the VM stays as it was (alone).</summary>
    public void Unlink(object link)
    {
        lock (_lock) if (link == _link) _link = null;
    }

    /// <summary>VM thread: a segment up to <paramref name="horizon"/> went to the linked secondary (for the lag figure).</summary>
    public void Shipped(ulong horizon, long timestamp)
    {
        lock (_lock)
        {
            _shipped.Enqueue((horizon, timestamp));
            while (_shipped.Count > 10_000) _shipped.Dequeue();
        }
    }

    /// <summary>Reader thread: an ack from <paramref name="link"/>. True the first time it covers the snapshot (the secondary holds the state and may be given authority: <see cref="Authorize"/>).</summary>
    public bool Ack(object link, ulong horizon, ulong replayed)
    {
        lock (_lock)
        {
            if (link != _link) return false;
            if (horizon > _ackedHorizon) _ackedHorizon = horizon;
            // Replay trails by the age of the first segment it has not reached: the primary was past `replayed`
            // by then. (Measured from the newest segment it had reached, an idle spell between two bursts counted
            // as lag, since no periodic ack refreshes the figure now that heartbeats are the link's.)
            while (_shipped.Count > 0 && _shipped.Peek().Horizon <= replayed) _shipped.Dequeue();
            _lagMs = _shipped.Count == 0 ? 0 : Stopwatch.GetElapsedTime(_shipped.Peek().Timestamp).TotalMilliseconds;
            bool nowHeld = !_snapshotHeld && horizon >= _snapshotAt;
            if (nowHeld) _snapshotHeld = true;
            ReleaseReady();
            return nowHeld;
        }
    }

    /// <summary>The linked secondary is in sync and has acknowledged the log up to <paramref name="position"/>, and no output waits.</summary>
    public bool Drained(ulong position)
    {
        lock (_lock) return _mode == Mode.Linked && _inSync && _ackedHorizon >= position && _held.Count == 0;
    }

    /// <summary>VM thread: the linked secondary is gone; nothing leaves until <see cref="GoAlone"/>.</summary>
    public void Hold()
    {
        lock (_lock)
        {
            _mode = Mode.Holding;
            _claimPending = true;
            _link = null;
            _snapshotHeld = false;
            _inSync = false;
            _lagMs = 0;
            _shipped.Clear();
        }
    }

    /// <summary>This side holds the generation without a partner: what is held leaves now, and later outputs at once.</summary>
    public void GoAlone()
    {
        lock (_lock)
        {
            _mode = Mode.Alone;
            _claimPending = false;
            ReleaseReady();
        }
    }

    /// <summary>Any thread: the journal has committed every log entry before <paramref name="entries"/>.</summary>
    public void Journaled(long entries)
    {
        lock (_lock)
        {
            if (entries <= _journaledEntries) return;
            _journaledEntries = entries;
            ReleaseReady();
        }
    }

    private void ReleaseReady()
    {
        while (_held.Count > 0 && !_claimPending && (_mode is Mode.Alone or Mode.Seeding || (_mode == Mode.Linked && _ackedHorizon > _held.Peek().Output.Position))
            && (!durable || _journaledEntries >= _heldEntries.Peek()))
        {
            if (durable) _heldEntries.Dequeue();
            var (output, heldAt) = _held.Dequeue();
            HoldTimes.RecordSince(heldAt);
            _heldBytes -= output.Data.Length;
            _releasedSeq = output.Seq + 1;
            release(output);
        }
    }
}
