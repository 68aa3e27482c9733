using System.Net.Sockets;
using System.Text;

namespace Lockstep.Host.Debugging;

/// <summary>What the client sent: a packet's payload, a Ctrl-C, or nothing more (the connection closed).</summary>
public readonly record struct RspInput(string? Packet, bool Interrupt = false)
{
    public bool Closed => Packet is null && !Interrupt;
}

/// <summary>
/// The framing of the GDB remote serial protocol: <c>$payload#checksum</c>, acknowledged with
/// '+' when the checksum is right and '-' when it is not (the client then sends it again).
/// A packet longer than <see cref="MaxPayload"/> is read to its end, dropped and answered with an
/// error; bytes outside packets other than acks and Ctrl-C (0x03) are ignored.
/// </summary>
public sealed class RspConnection(Socket socket, int maxPayload)
{
    public const string TooLongReply = "E01";

    private readonly byte[] _buffer = new byte[8192];
    private int _start, _end;
    private string? _lastSent;

    public int MaxPayload => maxPayload;

    public RspInput Read()
    {
        while (true)
        {
            int b = ReadByte();
            switch (b)
            {
                case -1: return default;
                case 0x03: return new RspInput(null, Interrupt: true);
                case '-':
                    if (_lastSent is not null) Write(_lastSent);
                    continue;
                case '$':
                    var packet = ReadPacketBody();
                    if (packet is null) return default;
                    if (packet.Value.Packet is { } payload) return new RspInput(payload);
                    continue;
                default: continue; // acks, and anything else outside a packet
            }
        }
    }

    /// <summary>The rest of a packet after '$': null when the connection closed, a null payload when it was refused.</summary>
    private RspInput? ReadPacketBody()
    {
        var payload = new StringBuilder();
        int sum = 0;
        bool tooLong = false;
        while (true)
        {
            int b = ReadByte();
            if (b == -1) return null;
            if (b == '#') break;
            if (b == '$')
            {
                // A new packet starts before this one ended: the start was garbage.
                payload.Clear();
                sum = 0;
                tooLong = false;
                continue;
            }
            sum += b;
            if (payload.Length < maxPayload) payload.Append((char)b);
            else tooLong = true;
        }
        int high = ReadByte(), low = ReadByte();
        if (high == -1 || low == -1) return null;
        if (!IsHex(high) || !IsHex(low) || Convert.ToInt32($"{(char)high}{(char)low}", 16) != (sum & 0xFF))
        {
            Write("-");
            return new RspInput(null);
        }
        Write("+");
        if (!tooLong) return new RspInput(payload.ToString());
        Send(TooLongReply);
        return new RspInput(null);
    }

    public void Send(string payload)
    {
        var framed = new StringBuilder(payload.Length + 4).Append('$');
        int sum = 0;
        foreach (char c in payload)
        {
            framed.Append(c);
            sum += c;
        }
        framed.Append('#').Append((sum & 0xFF).ToString("x2"));
        _lastSent = framed.ToString();
        Write(_lastSent);
    }

    /// <summary>True when a Ctrl-C arrived while the target ran (checked without blocking).</summary>
    public bool InterruptRequested()
    {
        while (true)
        {
            if (_start == _end)
            {
                if (socket.Available == 0) return false;
                if (!Fill()) return false;
            }
            byte b = _buffer[_start];
            if (b == 0x03)
            {
                _start++;
                return true;
            }
            if (b is (byte)'+' or (byte)'-')
            {
                _start++;
                continue;
            }
            return false; // a packet: it waits until the target stops
        }
    }

    private int ReadByte()
    {
        if (_start == _end && !Fill()) return -1;
        return _buffer[_start++];
    }

    private bool Fill()
    {
        try
        {
            int count = socket.Receive(_buffer);
            _start = 0;
            _end = count;
            return count > 0;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void Write(string text)
    {
        try
        {
            socket.Send(Encoding.Latin1.GetBytes(text));
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // The client went away; the next read reports the closed connection.
        }
    }

    private static bool IsHex(int b) => b is >= '0' and <= '9' or >= 'a' and <= 'f' or >= 'A' and <= 'F';
}
