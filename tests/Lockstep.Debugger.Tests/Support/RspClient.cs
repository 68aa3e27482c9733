using System.Net;
using System.Net.Sockets;
using System.Text;
using Lockstep.Host.Debugging;

namespace Lockstep.Debugger.Tests;

/// <summary>
/// A GDB stub served on a loopback socket in this process, and a raw client for it that can
/// send anything, well-formed or not.
/// </summary>
public sealed class RspClient : IDisposable
{
    private readonly GdbServer _server;
    private readonly Thread _serving;
    private readonly Socket _socket;
    private readonly List<byte> _received = [];
    private Exception? _failure;

    public RspClient(Timeline timeline)
    {
        _server = new GdbServer(new IPEndPoint(IPAddress.Loopback, 0));
        _serving = new Thread(() =>
        {
            try
            {
                _server.ServeOne(timeline, TextWriter.Null);
            }
            catch (Exception e)
            {
                _failure = e;
            }
        }) { IsBackground = true };
        _serving.Start();
        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveTimeout = 30_000 };
        _socket.Connect(_server.Endpoint);
    }

    public static string Frame(string payload) => $"${payload}#{Encoding.Latin1.GetBytes(payload).Sum(b => b) & 0xFF:x2}";

    public void SendRaw(string text) => _socket.Send(Encoding.Latin1.GetBytes(text));

    public void SendRaw(byte[] bytes) => _socket.Send(bytes);

    /// <summary>Sends a well-formed packet and returns the reply's payload (after the stub's '+').</summary>
    public string Ask(string payload)
    {
        SendRaw(Frame(payload));
        Assert.Equal('+', ReadAck());
        return ReadPacket();
    }

    public char ReadAck()
    {
        int b = ReadByte();
        return (char)b;
    }

    /// <summary>Reads one packet from the stub, checks its checksum and acknowledges it.</summary>
    public string ReadPacket()
    {
        int b;
        while ((b = ReadByte()) != '$') Assert.True(b is '+', $"unexpected byte 0x{b:x2} before a packet");
        var payload = new StringBuilder();
        while ((b = ReadByte()) != '#') payload.Append((char)b);
        string sum = $"{(char)ReadByte()}{(char)ReadByte()}";
        Assert.Equal(Frame(payload.ToString())[^2..], sum);
        SendRaw("+");
        return payload.ToString();
    }

    /// <summary>True when the stub closed the connection and its serving thread ended without an exception.</summary>
    public bool EndedCleanly(TimeSpan timeout) => _serving.Join(timeout) && _failure is null;

    public void CloseClient() => _socket.Shutdown(SocketShutdown.Both);

    public Exception? Failure => _failure;

    private int ReadByte()
    {
        if (_received.Count == 0)
        {
            var buffer = new byte[4096];
            int count = _socket.Receive(buffer);
            if (count == 0) throw new InvalidOperationException("the stub closed the connection");
            _received.AddRange(buffer.AsSpan(0, count).ToArray());
        }
        byte next = _received[0];
        _received.RemoveAt(0);
        return next;
    }

    public void Dispose()
    {
        _socket.Dispose();
        _serving.Join(TimeSpan.FromSeconds(10));
        _server.Dispose();
    }
}
