using Lockstep.Actors.Protocol;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Devices;

namespace Lockstep.Actors.Executors;

/// <summary>
/// A primary's released console: the actor's own copy of the machine's console ring (whose bytes the VM thread
/// writes as the guest makes them, released or not), advanced by each console output the output gate releases.
/// A launch starts from the machine's ring, so a promoted secondary or a rebuilt VM continues the stream at the
/// offsets the guest's own state names: a follower of the old primary neither sees a byte again nor misses one.
/// </summary>
public sealed class ConsoleFeed
{
    private readonly string _name;
    private readonly ConsoleRing _released;

    /// <param name="machine">Not yet running (its ring is read on this thread).</param>
    /// <param name="capacity">How many bytes to keep (the node's setting; the machine's ring is set to it too, before it runs).</param>
    public ConsoleFeed(string name, Machine machine, int capacity)
    {
        _name = name;
        machine.ConsoleTail.Resize(capacity);
        // Every byte in the machine's ring at launch is releasable: a fresh machine has none, a promoted secondary's
        // were made before its claim (released by the old primary, or resent now), a rebuilt one's come from the journal.
        _released = machine.ConsoleTail.Clone();
    }

    public ulong End => _released.End;

    /// <summary>A console output the gate released (after launch: made by this primary's own run).</summary>
    public void Released(MachineOutput output) => _released.Append(output.Data);

    public ConsoleChunk Read(GetConsole request)
    {
        ulong from = request.From ?? (request.LastBytes is { } last
            ? _released.End - Math.Min(_released.End, (ulong)Math.Max(0, last))
            : _released.Start);
        int max = Math.Clamp(request.MaxBytes, 0, ConsoleLimits.MaxChunk);
        var (start, data) = _released.Read(from, max);
        return new ConsoleChunk(_name, _released.Start, start, data, _released.End);
    }
}
