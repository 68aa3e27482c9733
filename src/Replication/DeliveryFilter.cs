using System.Buffers.Binary;

namespace Lockstep.Replication;

/// <summary>
/// Keeps a late copy of an already answered request out of the guest. A client that re-sends until
/// answered leaves copies in flight (in a frozen node's socket buffers, behind a healed cut), and
/// such a copy can arrive after the guest's own de-duplication has forgotten the request id, which
/// would execute it twice. Each tagged packet says which of its session's requests are all answered
/// (every ordinal below a mark), the way a TCP ack says which segments are old: a copy whose ordinal
/// is below the highest mark seen for its session is old, and is dropped before it is logged.
/// </summary>
/// <remarks>
/// The marks travel to the secondary with the log (before the segments whose packets they
/// admitted), so a promoted secondary keeps dropping the same copies. Thread-safe.
/// </remarks>
public sealed class DeliveryFilter
{
    /// <summary>Sessions remembered; the least recently used is forgotten beyond this.</summary>
    public const int MaxSessions = 4096;

    private readonly Dictionary<long, (long Mark, long Used)> _marks = [];
    private readonly HashSet<long> _changed = [];
    private readonly object _lock = new();
    private long _clock;

    /// <summary>True when the packet may go to the guest; raises the session's mark either way.</summary>
    public bool Admit(long session, long ordinal, long answeredBelow)
    {
        lock (_lock)
        {
            long mark = Raise(session, answeredBelow);
            return ordinal >= mark;
        }
    }

    /// <summary>The marks changed since the last call, encoded for the secondary; null when none did.</summary>
    public byte[]? TakeChanges()
    {
        lock (_lock)
        {
            if (_changed.Count == 0) return null;
            var encoded = Encode(_changed.Select(s => (s, _marks[s].Mark)).ToList()); // forgotten sessions leave _changed too
            _changed.Clear();
            return encoded;
        }
    }

    /// <summary>Every mark, encoded (for a secondary that starts from a snapshot).</summary>
    public byte[] EncodeAll()
    {
        lock (_lock) return Encode(_marks.Select(kv => (kv.Key, kv.Value.Mark)).ToList());
    }

    /// <summary>Takes in marks encoded by <see cref="TakeChanges"/> or <see cref="EncodeAll"/>.</summary>
    public void Apply(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length < 4) throw new InvalidDataException("delivery marks frame is too short");
        int count = BinaryPrimitives.ReadInt32LittleEndian(encoded);
        if (count < 0 || encoded.Length != 4 + count * 16L) throw new InvalidDataException($"delivery marks frame of {encoded.Length} bytes does not hold {count} marks");
        lock (_lock)
        {
            for (int i = 0; i < count; i++)
            {
                var entry = encoded.Slice(4 + i * 16, 16);
                Raise(BinaryPrimitives.ReadInt64LittleEndian(entry), BinaryPrimitives.ReadInt64LittleEndian(entry[8..]));
            }
        }
    }

    private long Raise(long session, long answeredBelow)
    {
        _marks.TryGetValue(session, out var known);
        long mark = Math.Max(known.Mark, answeredBelow);
        if (mark != known.Mark) _changed.Add(session);
        _marks[session] = (mark, ++_clock);
        if (_marks.Count > MaxSessions) ForgetLeastRecent();
        return mark;
    }

    private void ForgetLeastRecent()
    {
        long oldest = _marks.MinBy(kv => kv.Value.Used).Key;
        _marks.Remove(oldest);
        _changed.Remove(oldest);
    }

    private static byte[] Encode(List<(long Session, long Mark)> marks)
    {
        var bytes = new byte[4 + marks.Count * 16];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, marks.Count);
        for (int i = 0; i < marks.Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(4 + i * 16), marks[i].Session);
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(12 + i * 16), marks[i].Mark);
        }
        return bytes;
    }
}
