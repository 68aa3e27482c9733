namespace Lockstep.Engine.Devices;

/// <summary>
/// The newest bytes of a console stream, at most <see cref="Capacity"/> of them, each named by its
/// offset in the stream (the count of bytes written before it). Offsets only grow: whatever is
/// dropped from the front is gone, and a reader asking for it learns where the kept bytes start.
/// The buffer grows on demand up to the capacity, so a VM that prints little keeps little.
/// Not thread-safe: one owner thread.
/// </summary>
public sealed class ConsoleRing
{
    public const int DefaultCapacity = 64 * 1024;
    /// <summary>Beyond this a ring would be a log, and it rides in every snapshot.</summary>
    public const int MaxCapacity = 16 * 1024 * 1024;
    private const int InitialBuffer = 256;

    private byte[] _buffer = [];
    private int _head; // index in _buffer of the oldest kept byte
    private int _count;

    public ConsoleRing(int capacity = DefaultCapacity)
    {
        Capacity = CheckedCapacity(capacity);
    }

    public int Capacity { get; private set; }

    /// <summary>Offset after the newest byte: how many bytes were ever written.</summary>
    public ulong End { get; private set; }

    /// <summary>Offset of the oldest byte still kept (equal to <see cref="End"/> when none is).</summary>
    public ulong Start => End - (ulong)_count;

    public int Count => _count;

    public static int CheckedCapacity(int capacity) =>
        capacity is >= 1 and <= MaxCapacity
            ? capacity
            : throw new ArgumentOutOfRangeException(nameof(capacity), $"a console ring keeps between 1 byte and {MaxCapacity / (1024 * 1024)} MiB, not {capacity} bytes");

    public void Append(byte value)
    {
        if (_count == _buffer.Length && _count < Capacity) Grow(_count + 1);
        if (_count < _buffer.Length)
        {
            _buffer[(_head + _count) % _buffer.Length] = value;
            _count++;
        }
        else
        {
            _buffer[_head] = value; // full: the newest byte takes the oldest one's place
            _head = (_head + 1) % _buffer.Length;
        }
        End++;
    }

    public void Append(ReadOnlySpan<byte> bytes)
    {
        // Only the last Capacity bytes can stay; the ones before still count in the offsets.
        if (bytes.Length > Capacity)
        {
            End += (ulong)(bytes.Length - Capacity);
            _count = 0;
            _head = 0;
            bytes = bytes[^Capacity..];
        }
        foreach (byte b in bytes) Append(b);
    }

    /// <summary>Up to <paramref name="max"/> kept bytes from <paramref name="from"/> on (from <see cref="Start"/> when that is older).</summary>
    /// <returns>The offset of the first byte returned, and the bytes; none when <paramref name="from"/> is at or past <see cref="End"/>.</returns>
    public (ulong Start, byte[] Data) Read(ulong from, int max)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        ulong start = Math.Max(from, Start);
        if (start >= End) return (End, []);
        int skip = (int)(start - Start);
        int length = (int)Math.Min((ulong)max, End - start);
        var data = new byte[length];
        CopyOut(skip, data);
        return (start, data);
    }

    /// <summary>Keeps at most <paramref name="capacity"/> bytes from now on; the newest ones stay.</summary>
    public void Resize(int capacity)
    {
        capacity = CheckedCapacity(capacity);
        if (capacity == Capacity) return;
        int keep = Math.Min(_count, capacity);
        var kept = new byte[keep];
        CopyOut(_count - keep, kept);
        _buffer = kept.Length == 0 ? [] : kept;
        _head = 0;
        _count = keep;
        Capacity = capacity;
    }

    /// <summary>A copy with the same offsets and bytes, for an owner on another thread.</summary>
    public ConsoleRing Clone()
    {
        var copy = new ConsoleRing(Capacity) { End = Start };
        var kept = new byte[_count];
        CopyOut(0, kept);
        copy.Append(kept);
        return copy;
    }

    public void Save(BinaryWriter writer)
    {
        writer.Write(Capacity);
        writer.Write(End);
        writer.Write(_count);
        var kept = new byte[_count];
        CopyOut(0, kept);
        writer.Write(kept);
    }

    public void Load(BinaryReader reader)
    {
        int capacity = reader.ReadInt32();
        ulong end = reader.ReadUInt64();
        int count = reader.ReadInt32();
        if (capacity is < 1 or > MaxCapacity || count < 0 || count > capacity || (ulong)count > end)
            throw new InvalidDataException($"console ring of {count} bytes, capacity {capacity}, end {end} is not valid");
        var kept = reader.ReadBytes(count);
        if (kept.Length != count) throw new EndOfStreamException("console ring cut short");
        Capacity = capacity;
        _buffer = kept.Length == 0 ? [] : kept;
        _head = 0;
        _count = count;
        End = end;
    }

    private void Grow(int needed)
    {
        int size = Math.Min(Capacity, Math.Max(needed, Math.Max(InitialBuffer, _buffer.Length * 2)));
        var bigger = new byte[size];
        CopyOut(0, bigger.AsSpan(0, _count));
        _buffer = bigger;
        _head = 0;
    }

    /// <summary>Kept bytes from the <paramref name="skip"/>-th oldest on, as many as fit in <paramref name="into"/>.</summary>
    private void CopyOut(int skip, Span<byte> into)
    {
        if (into.Length == 0) return;
        int first = (_head + skip) % _buffer.Length;
        int tail = Math.Min(into.Length, _buffer.Length - first);
        _buffer.AsSpan(first, tail).CopyTo(into);
        _buffer.AsSpan(0, into.Length - tail).CopyTo(into[tail..]);
    }
}
