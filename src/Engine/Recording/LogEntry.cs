namespace Lockstep.Engine.Recording;

public enum EntryKind : byte
{
    /// <summary>A read of mtime (CLINT or the time CSR); Value is the whole 64-bit mtime.</summary>
    Mtime = 1,
    /// <summary>A read of the RTC; Value is wall-clock nanoseconds.</summary>
    Rtc = 2,
    /// <summary>A read of the RNG; Value is the 32 bits returned.</summary>
    Random = 3,
    /// <summary>A packet became visible in the receive queue.</summary>
    Packet = 4,
    /// <summary>The timer interrupt line went up (mtime reached mtimecmp).</summary>
    TimerOn = 5,
    /// <summary>The timer interrupt line went down (mtimecmp moved past mtime).</summary>
    TimerOff = 6,
}

/// <summary>
/// One non-deterministic event and the instruction count at which it took effect. Reads
/// (<see cref="IsRead"/>) belong to the instruction at Position; the others apply at the
/// boundary before it.
/// </summary>
public readonly record struct LogEntry(EntryKind Kind, ulong Position, ulong Value = 0, uint Peer = 0, byte[]? Data = null)
{
    public bool IsRead => Kind is EntryKind.Mtime or EntryKind.Rtc or EntryKind.Random;

    public override string ToString() => Kind switch
    {
        EntryKind.Packet => $"Packet from peer {Peer} ({Data?.Length ?? 0} bytes) at {Position}",
        EntryKind.TimerOn or EntryKind.TimerOff => $"{Kind} at {Position}",
        _ => $"{Kind} read at {Position}",
    };
}
