using System.Text;

namespace Lockstep.Harness;

/// <summary>A request of a <see cref="KvSession"/>: its line, the id it is answered by, and when it was sent.</summary>
public sealed class KvRequest
{
    internal KvRequest(string line, string id, long ordinal, long nowMs)
    {
        Line = line;
        Id = id;
        Ordinal = ordinal;
        Data = Encoding.UTF8.GetBytes(line);
        FirstSentAtMs = nowMs;
    }

    public string Line { get; }

    /// <summary>The first word of the line; the answer starts with it.</summary>
    public string Id { get; }

    /// <summary>0, 1, 2, ... in the order the session started its requests.</summary>
    public long Ordinal { get; }

    /// <summary>The line as the packet carries it (UTF-8).</summary>
    public byte[] Data { get; }

    public long FirstSentAtMs { get; }

    public long LastSentAtMs { get; internal set; }

    /// <summary>How many copies were sent: 1, and one more for each resend.</summary>
    public int Sends { get; internal set; }
}
