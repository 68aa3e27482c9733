using System.Buffers.Binary;
using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Snapshots;

/// <summary>
/// The whole machine as bytes: core state (registers, CSRs, devices, queued packets) and RAM
/// pages. A full snapshot stores every non-zero page; a delta stores the pages dirtied since
/// <see cref="Machine.ClearDirtyPages"/> and applies on top of the snapshot taken then. A pages
/// snapshot is RAM alone, copied while the machine runs on (see <see cref="CapturePagesWhileRunning"/>).
/// Kind 4, the journal's versioned and checksummed checkpoints, is <see cref="CheckpointFormat"/>.
/// </summary>
public static class MachineSnapshot
{
    internal const uint Magic = 0x5053_4C4C; // "LLSP"
    private const byte KindFull = 1, KindDelta = 2, KindPages = 3;
    private const int PageRecord = sizeof(int) + MemoryMap.PageSize;

    /// <param name="reserve">Bytes left free at the front for the caller's own header, so that a 16 MiB snapshot
    /// need not be copied again to be framed (the primary is paused while it is taken).</param>
    public static byte[] CaptureFull(Machine machine, int reserve = 0) => Capture(machine, KindFull, NonZeroPages(machine), reserve);

    /// <inheritdoc cref="CaptureFull" path="/param[@name='reserve']"/>
    public static byte[] CaptureDelta(Machine machine, int reserve = 0) => Capture(machine, KindDelta, machine.DirtyPages().ToList(), reserve);

    /// <summary>
    /// RAM alone, read from any thread while the machine's own thread keeps running it. A page
    /// written meanwhile may come out torn; that is harmless only because every such page is dirty:
    /// call <see cref="Machine.ClearDirtyPages"/> (on the machine's thread) before, and apply
    /// <see cref="CaptureDelta"/> taken later on top, which brings those pages and the core state.
    /// The core state is left out because reading it while it changes is not safe.
    /// </summary>
    public static byte[] CapturePagesWhileRunning(Machine machine) => Capture(machine, KindPages, NonZeroPages(machine), 0, withCore: false);

    /// <summary>Restores a full snapshot, or applies a delta on top of the state it follows (a pages snapshot's included).</summary>
    public static void Restore(Machine machine, byte[] snapshot)
    {
        if (CheckpointFormat.IsCheckpoint(snapshot))
        {
            CheckpointFormat.Apply(machine, snapshot);
            return;
        }
        if (snapshot.Length < 5 || BinaryPrimitives.ReadUInt32LittleEndian(snapshot) != Magic) throw new InvalidDataException("not a machine snapshot");
        using var reader = new BinaryReader(new MemoryStream(snapshot));
        reader.ReadUInt32();
        byte kind = reader.ReadByte();
        if (kind is not (KindFull or KindDelta or KindPages)) throw new InvalidDataException($"unknown snapshot kind {kind}");
        if (kind != KindPages) machine.LoadCoreOrRefuse(reader, "snapshot");
        // These kinds carry no checksum: their page records are checked whole before RAM is touched.
        long pagesAt = reader.BaseStream.Position + sizeof(int);
        int count = pagesAt <= snapshot.Length ? reader.ReadInt32() : -1;
        if (count < 0 || pagesAt + (long)count * PageRecord != snapshot.Length)
            throw new InvalidDataException($"snapshot of {snapshot.Length} bytes does not hold the {count} page records it announces");
        for (int i = 0; i < count; i++)
        {
            int page = BinaryPrimitives.ReadInt32LittleEndian(snapshot.AsSpan((int)(pagesAt + (long)i * PageRecord)));
            if (page < 0 || page >= machine.PageCount) throw new InvalidDataException($"snapshot page {page} is outside RAM");
        }
        if (kind is KindFull or KindPages) machine.ClearRam();
        machine.ForgetAllDecoded();
        for (int i = 0; i < count; i++)
        {
            int page = reader.ReadInt32();
            reader.BaseStream.ReadExactly(machine.WritablePage(page));
        }
    }

    /// <summary>One pass over the pages into an array of the exact size (no stream growing, no final copy).</summary>
    private static byte[] Capture(Machine machine, byte kind, List<int> pages, int reserve, bool withCore = true)
    {
        var core = new MemoryStream();
        if (withCore)
            using (var writer = new BinaryWriter(core, System.Text.Encoding.UTF8, leaveOpen: true)) machine.SaveCore(writer);
        int header = sizeof(uint) + 1 + (int)core.Length + sizeof(int);
        var snapshot = new byte[reserve + header + pages.Count * (sizeof(int) + MemoryMap.PageSize)];
        var at = snapshot.AsSpan(reserve);
        BinaryPrimitives.WriteUInt32LittleEndian(at, Magic);
        at[4] = kind;
        core.GetBuffer().AsSpan(0, (int)core.Length).CopyTo(at[5..]);
        BinaryPrimitives.WriteInt32LittleEndian(at[(header - sizeof(int))..], pages.Count);
        at = at[header..];
        foreach (int page in pages)
        {
            BinaryPrimitives.WriteInt32LittleEndian(at, page);
            machine.Page(page).CopyTo(at[sizeof(int)..]);
            at = at[(sizeof(int) + MemoryMap.PageSize)..];
        }
        return snapshot;
    }

    /// <summary>Pages never written read zero: only written ones are looked at.</summary>
    internal static List<int> NonZeroPages(Machine machine)
    {
        var pages = new List<int>();
        foreach (int page in machine.TouchedPages())
            if (machine.Page(page).IndexOfAnyExcept((byte)0) >= 0) pages.Add(page);
        return pages;
    }
}
