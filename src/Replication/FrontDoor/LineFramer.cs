namespace Lockstep.Replication.FrontDoor;

/// <summary>
/// Cuts a TCP byte stream into lines: a line is the bytes before its '\n', a trailing '\r' dropped.
/// A line longer than the limit is never handed on, not even in part: it is reported once and its
/// bytes are skipped up to its '\n', after which framing goes on with the next line.
/// </summary>
public sealed class LineFramer(int maxLine)
{
    private readonly MemoryStream _pending = new();
    private bool _skipping;

    public int MaxLine { get; } = maxLine;

    /// <summary>Feeds received bytes; calls <paramref name="line"/> for each complete line and <paramref name="tooLong"/> once per oversized one.</summary>
    public void Feed(ReadOnlySpan<byte> bytes, Action<byte[]> line, Action tooLong)
    {
        while (!bytes.IsEmpty)
        {
            int end = bytes.IndexOf((byte)'\n');
            var chunk = end < 0 ? bytes : bytes[..end];
            if (!_skipping)
            {
                _pending.Write(chunk);
                // One byte more than the limit may still be the '\r' before the '\n'.
                if (_pending.Length > MaxLine + 1 || (end >= 0 && ContentLength() > MaxLine))
                {
                    _pending.SetLength(0);
                    _skipping = true;
                    tooLong();
                }
            }
            if (end < 0) return;
            if (_skipping) _skipping = false;
            else
            {
                line(_pending.GetBuffer().AsSpan(0, ContentLength()).ToArray());
                _pending.SetLength(0);
            }
            bytes = bytes[(end + 1)..];
        }
    }

    /// <summary>Bytes buffered for the line not yet ended (0 while an oversized line is skipped).</summary>
    public long Pending => _pending.Length;

    private int ContentLength()
    {
        int length = (int)_pending.Length;
        return length > 0 && _pending.GetBuffer()[length - 1] == (byte)'\r' ? length - 1 : length;
    }
}
