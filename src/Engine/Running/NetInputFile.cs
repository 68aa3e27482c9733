using Lockstep.Engine.Devices;

namespace Lockstep.Engine.Running;

/// <summary>
/// A <c>--net-input</c> file: one request packet per line (ended by "\n", "\r\n" or "\r"; empty lines skipped,
/// a UTF-8 byte order mark at the start dropped), each line's bytes delivered as they are. A line longer than a
/// packet, or a file larger than <see cref="MaxFile"/>, is refused whole: nothing of it is delivered.
/// </summary>
public static class NetInputFile
{
    /// <summary>The longest line: the most the network device takes in one packet.</summary>
    public const int MaxLine = NetDevice.MaxPacket;

    /// <summary>The largest file read: it is held in memory, packets and all, before the run starts.</summary>
    public const long MaxFile = 64 << 20;

    /// <exception cref="NetInputException">Unreadable, too large, or a line longer than <see cref="MaxLine"/>.</exception>
    public static List<ScheduledPacket> Read(string path, double spacingMs, Random random)
    {
        byte[] bytes;
        try
        {
            long length = new FileInfo(path).Length;
            if (length > MaxFile) throw new NetInputException($"--net-input {path} is {length} bytes, more than the {MaxFile} read");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NetInputException($"cannot read --net-input {path}: {e.Message}");
        }
        return Parse(bytes, path, spacingMs, random);
    }

    /// <summary>The packets of a file's bytes, from peer 1, arriving <paramref name="spacingMs"/> apart on average (jittered by <paramref name="random"/>).</summary>
    /// <param name="name">The file, for messages.</param>
    public static List<ScheduledPacket> Parse(ReadOnlySpan<byte> bytes, string name, double spacingMs, Random random)
    {
        if (bytes.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) bytes = bytes[3..];
        var packets = new List<ScheduledPacket>();
        // Arrivals jitter around the mean gap, as on a real network, so events land at varied instruction counts.
        double at = 20;
        int number = 0;
        while (!bytes.IsEmpty)
        {
            number++;
            int end = bytes.IndexOfAny((byte)'\n', (byte)'\r');
            var line = end < 0 ? bytes : bytes[..end];
            if (line.Length > MaxLine)
                throw new NetInputException($"--net-input {name}: line {number} is {line.Length} bytes, more than the {MaxLine} a packet holds");
            if (!line.IsEmpty)
            {
                at += spacingMs * (0.5 + random.NextDouble());
                packets.Add(new ScheduledPacket(TimeSpan.FromMilliseconds(at), 1, line.ToArray()));
            }
            if (end < 0) break;
            bool crlf = bytes[end] == '\r' && end + 1 < bytes.Length && bytes[end + 1] == '\n';
            bytes = bytes[(end + (crlf ? 2 : 1))..];
        }
        return packets;
    }
}
