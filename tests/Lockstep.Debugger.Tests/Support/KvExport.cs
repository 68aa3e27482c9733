using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Debugger.Tests;

/// <summary>
/// The kv recording as an export (<see cref="ExportFile"/>, what `vm export` writes) that starts in the
/// middle: a full checkpoint at <paramref name="full"/>, an increment at <paramref name="start"/>, and the
/// log from there to the recording's end, as a primary's journal holds them.
/// </summary>
public static class KvExport
{
    public static string Write(KvRecording kv, ulong full, ulong start, string name = "kv.export")
    {
        var machine = kv.NewReplay(out _);
        var chain = new CheckpointChain(fullEvery: int.MaxValue, fullFraction: double.PositiveInfinity);
        RunTo(machine, full);
        var checkpoint = chain.Capture(machine);
        RunTo(machine, start);
        var increment = chain.Capture(machine);
        long first = ((ReplayInputs)machine.Inputs).NextEntryIndex;
        var entries = kv.Segments.SelectMany(s => s.Entries).Skip((int)first).ToArray();
        ulong end = kv.Segments[^1].Horizon;
        var info = new ExportInfo("kv", DateTime.UtcNow, first, start, end, DateTime.UtcNow.AddMinutes(-2), DateTime.UtcNow);
        var export = new ExportContents(info, machine.RamSize, File.ReadAllBytes(KvRecording.Image), checkpoint.Bytes, [increment.Bytes],
            [new LogSegment(first, end, entries)]);
        string path = Path.Combine(kv.Folder, name);
        File.WriteAllBytes(path, ExportFile.Encode(export));
        return path;
    }

    /// <summary>A machine replayed from the start of the recording to <paramref name="position"/>.</summary>
    public static Machine ReplayedTo(KvRecording kv, ulong position)
    {
        var machine = kv.NewReplay(out _);
        RunTo(machine, position);
        return machine;
    }

    private static void RunTo(Machine machine, ulong position)
    {
        while (machine.Position < position)
        {
            var reason = machine.Run(position - machine.Position);
            machine.Outputs.Clear();
            if (reason is StopReason.NeedLog or StopReason.Halted or StopReason.Faulted) throw new InvalidOperationException($"the recording ends before {position}");
        }
    }
}
