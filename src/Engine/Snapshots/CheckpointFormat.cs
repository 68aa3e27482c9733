using System.Buffers.Binary;
using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Snapshots;

/// <summary>Where a checkpoint stands in its chain, read from its header (see <see cref="CheckpointFormat"/>).</summary>
/// <param name="Chain">Names the full checkpoint the chain starts from; its increments carry the same value.</param>
/// <param name="Ordinal">0 for the full checkpoint, 1, 2, ... for the increments after it.</param>
/// <param name="BasePosition">The position of the checkpoint this one applies on top of (0 for a full one).</param>
/// <param name="Position">The machine's position when this one was taken.</param>
public readonly record struct CheckpointHeader(ulong Chain, int Ordinal, ulong BasePosition, ulong Position)
{
    public bool IsFull => Ordinal == 0;
}

/// <summary>
/// The journal's checkpoints: kind 4 of the snapshot format (<see cref="MachineSnapshot"/>), versioned
/// and checksummed, because they are read back from storage long after they were written, one
/// increment on top of another. Layout, little-endian:
/// magic "LLSP", kind 4, version, chain (u64), ordinal (i32), base position (u64), position (u64),
/// core length (i32), core state, page count (i32), that many (page number i32, 4 KiB), and last a
/// 64-bit <see cref="StateHash.Hash"/> of every byte before it. A full checkpoint (ordinal 0) holds
/// every page that is not all zero and replaces RAM; an increment holds the pages written since the
/// checkpoint before it (zeroed ones too) and applies on top of it.
/// </summary>
public static class CheckpointFormat
{
    public const byte Kind = 4;
    // 2: the core state carries the console ring (Machine.ConsoleTail).
    public const byte Version = 2;

    private const int PageRecord = sizeof(int) + MemoryMap.PageSize;
    private const int ChecksumSize = sizeof(ulong);
    private const int CoreLengthAt = 4 + 1 + 1 + 8 + 4 + 8 + 8;
    private const int HeaderSize = CoreLengthAt + sizeof(int);

    internal static byte[] Encode(Machine machine, CheckpointHeader header, IReadOnlyList<int> pages)
    {
        var core = new MemoryStream();
        using (var writer = new BinaryWriter(core, System.Text.Encoding.UTF8, leaveOpen: true)) machine.SaveCore(writer);
        int coreLength = (int)core.Length;
        int pagesAt = HeaderSize + coreLength + sizeof(int);
        var bytes = new byte[pagesAt + pages.Count * PageRecord + ChecksumSize];
        var at = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(at, MachineSnapshot.Magic);
        at[4] = Kind;
        at[5] = Version;
        BinaryPrimitives.WriteUInt64LittleEndian(at[6..], header.Chain);
        BinaryPrimitives.WriteInt32LittleEndian(at[14..], header.Ordinal);
        BinaryPrimitives.WriteUInt64LittleEndian(at[18..], header.BasePosition);
        BinaryPrimitives.WriteUInt64LittleEndian(at[26..], header.Position);
        BinaryPrimitives.WriteInt32LittleEndian(at[CoreLengthAt..], coreLength);
        core.GetBuffer().AsSpan(0, coreLength).CopyTo(at[HeaderSize..]);
        BinaryPrimitives.WriteInt32LittleEndian(at[(HeaderSize + coreLength)..], pages.Count);
        var page = at[pagesAt..];
        foreach (int number in pages)
        {
            BinaryPrimitives.WriteInt32LittleEndian(page, number);
            machine.Page(number).CopyTo(page[sizeof(int)..]);
            page = page[PageRecord..];
        }
        int body = bytes.Length - ChecksumSize;
        BinaryPrimitives.WriteUInt64LittleEndian(at[body..], StateHash.Hash(at[..body]));
        return bytes;
    }

    /// <summary>True for bytes of this kind (whatever their version or state); the others are older snapshot kinds.</summary>
    public static bool IsCheckpoint(ReadOnlySpan<byte> bytes) =>
        bytes.Length > 4 && BinaryPrimitives.ReadUInt32LittleEndian(bytes) == MachineSnapshot.Magic && bytes[4] == Kind;

    /// <summary>The header of a checkpoint whose bytes are whole and intact; anything else is refused.</summary>
    /// <exception cref="InvalidDataException">Not a checkpoint, another version, truncated, or corrupt.</exception>
    public static CheckpointHeader ReadHeader(ReadOnlySpan<byte> bytes)
    {
        Check(bytes);
        return new CheckpointHeader(
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[6..]),
            BinaryPrimitives.ReadInt32LittleEndian(bytes[14..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[18..]),
            BinaryPrimitives.ReadUInt64LittleEndian(bytes[26..]));
    }

    /// <summary>
    /// A full checkpoint replaces the machine's state; an increment applies on top of the checkpoint
    /// it follows (which the caller must have restored: see <see cref="CheckpointChain.Restore"/>).
    /// Everything is checked before the machine is touched, so a refused checkpoint changes nothing.
    /// </summary>
    /// <exception cref="InvalidDataException">As <see cref="ReadHeader"/>, or of a machine with another memory size.</exception>
    public static void Apply(Machine machine, byte[] bytes)
    {
        var header = ReadHeader(bytes);
        int coreLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(CoreLengthAt));
        int pagesAt = HeaderSize + coreLength + sizeof(int);
        int count = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(HeaderSize + coreLength));
        if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(HeaderSize)) != machine.RamSize)
            throw new InvalidDataException($"checkpoint is of a machine with {BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(HeaderSize))} bytes of RAM, this one has {machine.RamSize}");
        for (int i = 0; i < count; i++)
        {
            int page = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(pagesAt + i * PageRecord));
            if (page < 0 || page >= machine.PageCount) throw new InvalidDataException($"checkpoint page {page} is outside RAM");
        }
        using (var reader = new BinaryReader(new MemoryStream(bytes, HeaderSize, coreLength))) machine.LoadCoreOrRefuse(reader, "checkpoint");
        if (header.IsFull) machine.ClearRam();
        machine.ForgetAllDecoded();
        for (int i = 0; i < count; i++)
        {
            int at = pagesAt + i * PageRecord;
            int page = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(at));
            bytes.AsSpan(at + sizeof(int), MemoryMap.PageSize).CopyTo(machine.WritablePage(page));
        }
    }

    private static void Check(ReadOnlySpan<byte> bytes)
    {
        if (!IsCheckpoint(bytes)) throw new InvalidDataException("not a journal checkpoint");
        if (bytes.Length < 6) throw new InvalidDataException("checkpoint truncated in its header");
        if (bytes[5] != Version) throw new InvalidDataException($"checkpoint format version {bytes[5]} is not supported (this build reads version {Version})");
        if (bytes.Length < HeaderSize + ChecksumSize) throw new InvalidDataException($"checkpoint truncated: {bytes.Length} bytes, its header alone takes {HeaderSize + ChecksumSize}");
        int body = bytes.Length - ChecksumSize;
        if (BinaryPrimitives.ReadUInt64LittleEndian(bytes[body..]) != StateHash.Hash(bytes[..body]))
            throw new InvalidDataException($"checkpoint of {bytes.Length} bytes is corrupt or truncated: its checksum does not match");
        // Intact, so the lengths are the writer's; they are checked anyway, so that no read can leave the array.
        int coreLength = BinaryPrimitives.ReadInt32LittleEndian(bytes[CoreLengthAt..]);
        if (coreLength < sizeof(uint) || coreLength > body - HeaderSize - sizeof(int))
            throw new InvalidDataException($"checkpoint core state of {coreLength} bytes does not fit its {bytes.Length} bytes");
        int count = BinaryPrimitives.ReadInt32LittleEndian(bytes[(HeaderSize + coreLength)..]);
        if (count < 0 || (long)count * PageRecord != body - HeaderSize - coreLength - sizeof(int))
            throw new InvalidDataException($"checkpoint says {count} pages, its length holds {(body - HeaderSize - coreLength - sizeof(int)) / (double)PageRecord}");
    }
}
