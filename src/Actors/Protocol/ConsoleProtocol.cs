namespace Lockstep.Actors.Protocol;

/// <summary>
/// A piece of a VM's console (`vm console`, the dashboard): the bytes the guest wrote to its UART that the
/// output rule has released, named by their offset in the run's console stream. Reply: <see cref="ConsoleChunk"/>
/// from the live primary, or <see cref="ControlError"/> (unknown VM, no live primary right now).
/// A follower asks again with <see cref="ConsoleChunk.Next"/>: nothing is held for it on the VM's side, so a slow
/// or vanished follower costs the VM nothing.
/// </summary>
/// <param name="From">The first offset wanted; null: the oldest kept (or the last <paramref name="LastBytes"/>).</param>
/// <param name="LastBytes">With no <paramref name="From"/>: only the newest this many bytes.</param>
/// <param name="MaxBytes">At most this many bytes in the reply (capped at <see cref="ConsoleLimits.MaxChunk"/>).</param>
public sealed record GetConsole(string Name, ulong? From = null, int? LastBytes = null, int MaxBytes = ConsoleLimits.MaxChunk) : IControlRequest;

/// <param name="KeptFrom">The oldest offset the primary still keeps: bytes before it are gone (a follower that fell behind skipped them).</param>
/// <param name="Start">The offset of <paramref name="Data"/>'s first byte (later than asked when the asked bytes are no longer kept).</param>
/// <param name="End">The offset after the newest released byte: a reader is caught up when it reaches it.</param>
public sealed record ConsoleChunk(string Name, ulong KeptFrom, ulong Start, byte[] Data, ulong End)
{
    public ulong Next => Start + (ulong)Data.Length;
}

public static class ConsoleLimits
{
    /// <summary>Well under Akka's remote frame size, so a full ring comes in a few replies rather than one too large.</summary>
    public const int MaxChunk = 32 * 1024;
}
