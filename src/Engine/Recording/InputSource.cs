using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Recording;

/// <summary>
/// Everything non-deterministic the machine sees comes through here: clock and random reads
/// (during an instruction) and asynchronous inputs (packets, the timer level), which take effect
/// only at boundaries between instructions. Live sources sample the world (and may record it);
/// the replay source reads a log.
/// </summary>
public abstract class InputSource
{
    /// <summary>mtime (10 MHz) for a read by the instruction at <see cref="Machine.Position"/>.</summary>
    public abstract ulong ReadMtime(Machine machine);

    /// <summary>Wall-clock nanoseconds since the Unix epoch, for an RTC read.</summary>
    public abstract ulong ReadRtc(Machine machine);

    public abstract uint ReadRandom(Machine machine);

    /// <summary>Applies the asynchronous inputs due at <see cref="Machine.Position"/>, before the interrupt check.</summary>
    public abstract void AtBoundary(Machine machine);

    /// <summary>The next instruction count (greater than the current one) at which <see cref="AtBoundary"/> must run.</summary>
    public abstract ulong NextBoundary(Machine machine);

    /// <summary>
    /// How far the machine may run: it executes while Position &lt; Horizon and stops with
    /// <see cref="StopReason.NeedLog"/> at it. Unbounded for live sources.
    /// </summary>
    public virtual ulong Horizon => ulong.MaxValue;

    /// <summary>Replay reached a point where it sleeps with nothing left in the log for this position.</summary>
    public virtual void OnSleepingAt(Machine machine) { }
}
