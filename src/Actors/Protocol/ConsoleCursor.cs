namespace Lockstep.Actors.Protocol;

/// <summary>
/// A reader's place in a VM's console stream, for `vm console`, the dashboard and tests: it asks from where the
/// last chunk ended, whichever primary answers, so a failover shows neither a byte twice nor a gap. It tells
/// what a reader should know besides the bytes: that some were no longer kept, or that the stream went back.
/// </summary>
/// <param name="from">Where a reader that knows its place (a reconnecting page) goes on from; null: from the oldest kept, or the last <paramref name="lastBytes"/>.</param>
public sealed class ConsoleCursor(string name, int? lastBytes = null, ulong? from = null)
{
    /// <summary>The offset to read from next; null before the first chunk (unless a place was given).</summary>
    public ulong? Next { get; private set; } = from;

    public GetConsole Request(int maxBytes = ConsoleLimits.MaxChunk) => new(name, Next, Next is null ? lastBytes : null, maxBytes);

    public ConsoleStep Take(ConsoleChunk chunk)
    {
        ulong? wentBackTo = null;
        ulong skipped = 0;
        if (Next is not { } next) skipped = lastBytes is null ? chunk.Start : 0; // from the start of the run: what is no longer kept
        else if (chunk.End < next) wentBackTo = chunk.End; // a VM rebuilt from a journal that trailed what had been released
        else if (chunk.Start > next) skipped = chunk.Start - next; // fell behind the ring
        Next = wentBackTo ?? chunk.Next;
        return new ConsoleStep(chunk.Data, skipped, wentBackTo, Next >= chunk.End);
    }
}

/// <param name="Skipped">Bytes between the reader's place and <paramref name="Data"/> that are no longer kept.</param>
/// <param name="WentBackTo">Set when the stream now ends before the reader's place: it reads on from there.</param>
/// <param name="CaughtUp">Nothing more is released right now.</param>
public sealed record ConsoleStep(byte[] Data, ulong Skipped, ulong? WentBackTo, bool CaughtUp);
