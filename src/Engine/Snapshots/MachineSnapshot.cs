using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Snapshots;

/// <summary>
/// The whole machine as bytes: core state (registers, CSRs, devices, queued packets) and RAM
/// pages. A full snapshot stores every non-zero page; a delta stores the pages dirtied since
/// <see cref="Machine.ClearDirtyPages"/> and applies on top of the snapshot taken then.
/// </summary>
public static class MachineSnapshot
{
    private const uint Magic = 0x5053_4C4C; // "LLSP"
    private const byte KindFull = 1, KindDelta = 2;

    public static byte[] CaptureFull(Machine machine) => Capture(machine, KindFull, NonZeroPages(machine));

    public static byte[] CaptureDelta(Machine machine) => Capture(machine, KindDelta, machine.DirtyPages().ToList());

    /// <summary>Restores a full snapshot, or applies a delta on top of the state it follows.</summary>
    public static void Restore(Machine machine, byte[] snapshot)
    {
        using var reader = new BinaryReader(new MemoryStream(snapshot));
        if (reader.ReadUInt32() != Magic) throw new InvalidDataException("not a machine snapshot");
        byte kind = reader.ReadByte();
        if (kind is not (KindFull or KindDelta)) throw new InvalidDataException($"unknown snapshot kind {kind}");
        machine.LoadCore(reader);
        if (kind == KindFull) machine.Ram.Clear();
        machine.ForgetAllDecoded();
        int count = reader.ReadInt32();
        for (int i = 0; i < count; i++)
        {
            int page = reader.ReadInt32();
            if (page < 0 || page >= machine.PageCount) throw new InvalidDataException($"snapshot page {page} is outside RAM");
            reader.BaseStream.ReadExactly(machine.WritablePage(page));
        }
    }

    private static byte[] Capture(Machine machine, byte kind, List<int> pages)
    {
        var stream = new MemoryStream(1024 + pages.Count * (MemoryMap.PageSize + 4));
        using (var writer = new BinaryWriter(stream))
        {
            writer.Write(Magic);
            writer.Write(kind);
            machine.SaveCore(writer);
            writer.Write(pages.Count);
            foreach (int page in pages)
            {
                writer.Write(page);
                writer.Write(machine.Page(page));
            }
        }
        return stream.ToArray();
    }

    private static List<int> NonZeroPages(Machine machine)
    {
        var pages = new List<int>();
        for (int page = 0; page < machine.PageCount; page++)
            if (machine.Page(page).IndexOfAnyExcept((byte)0) >= 0) pages.Add(page);
        return pages;
    }
}
