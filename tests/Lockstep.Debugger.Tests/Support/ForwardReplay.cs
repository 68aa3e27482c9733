using Lockstep.Engine.Cpu;

namespace Lockstep.Debugger.Tests;

/// <summary>A state of the reference replay: the position and the pc about to run.</summary>
public readonly record struct Visit(ulong Position, uint Pc);

/// <summary>A change of a watched word in the reference replay: the instruction count just after the writer, its pc, the values.</summary>
public readonly record struct WordChange(ulong Position, uint Pc, uint Before, uint After);

/// <summary>
/// The reference the debugger is checked against: the recording replayed from the start one
/// instruction at a time in the interpreter alone (no compiled code, no checkpoints, no stretches),
/// looking at every state in between.
/// </summary>
public sealed class ForwardReplay
{
    public List<Visit> Visits { get; } = [];
    public List<WordChange> Changes { get; } = [];
    public ulong End { get; private set; }

    /// <param name="pcs">Record every state whose pc is one of these.</param>
    /// <param name="word">Record every change of the 32-bit word here.</param>
    public static ForwardReplay Of(KvRecording recording, IReadOnlyCollection<uint> pcs, uint? word = null)
    {
        var machine = recording.NewReplay(out _, translate: false);
        var result = new ForwardReplay();
        var bytes = new byte[4];
        uint value = word is { } w && machine.TryReadRam(w, bytes) ? BitConverter.ToUInt32(bytes) : 0;
        while (true)
        {
            if (pcs.Contains(machine.Pc)) result.Visits.Add(new Visit(machine.Position, machine.Pc));
            uint pc = machine.Pc;
            var reason = machine.Run(1);
            machine.Outputs.Clear();
            if (word is { } address)
            {
                machine.TryReadRam(address, bytes);
                uint now = BitConverter.ToUInt32(bytes);
                if (now != value) result.Changes.Add(new WordChange(machine.Position, pc, value, now));
                value = now;
            }
            if (reason is StopReason.NeedLog or StopReason.Halted or StopReason.Faulted) break;
        }
        result.End = machine.Position;
        return result;
    }

    /// <summary>The pc of the state at <paramref name="position"/>.</summary>
    public static uint PcAt(KvRecording recording, ulong position)
    {
        var machine = recording.NewReplay(out _, translate: false);
        while (machine.Position < position)
        {
            var reason = machine.Run(position - machine.Position);
            machine.Outputs.Clear();
            if (reason is StopReason.NeedLog or StopReason.Halted or StopReason.Faulted) break;
        }
        return machine.Pc;
    }
}
