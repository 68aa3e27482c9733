using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Tests;

/// <summary>The secondary's door: only a connection that opens with this attach's token gets in.</summary>
public sealed class ChannelListenerTests
{
    [Fact]
    public void Garbage_a_wrong_token_an_impossible_length_and_silence_are_refused_and_the_real_primary_is_admitted()
    {
        var token = AttachToken.New();
        using var listener = new ChannelListener("127.0.0.1", token);
        var refused = new ConcurrentQueue<CloseReason>();
        listener.Refused += (reason, _) => refused.Enqueue(reason);

        using var silent = Connect(listener.Port);
        using var garbage = Connect(listener.Port);
        garbage.Send(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\n"));
        using var impostor = Connect(listener.Port);
        impostor.Send(FrameCodec.Encode(new HelloFrame(AttachToken.New().Bytes)));
        using var huge = Connect(listener.Port);
        huge.Send([(byte)FrameType.Hello, 0xff, 0xff, 0xff, 0x7f]);
        using var primary = Connect(listener.Port);
        primary.Send(FrameCodec.Encode(new HelloFrame(token.Bytes)));
        primary.Send(FrameCodec.Encode(WaitingFrame.Instance)); // what follows the hello stays unread for the channel

        using var admitted = listener.AcceptPrimary(Stopwatch.GetTimestamp() + 5 * Stopwatch.Frequency, () => false);
        Assert.NotNull(admitted);
        var next = new byte[FrameCodec.HeaderSize];
        Assert.Equal(FrameCodec.HeaderSize, admitted.Receive(next));
        Assert.Equal((byte)FrameType.Waiting, next[0]);
        // The silent one is either still pending (dropped with the listener) or refused after the hello timeout.
        Assert.Contains(CloseReason.Malformed, refused);
        Assert.True(refused.Count(r => r == CloseReason.Unauthenticated) >= 2, string.Join(", ", refused));
    }

    [Fact]
    public void Without_its_primary_the_wait_ends_at_the_deadline()
    {
        using var listener = new ChannelListener("127.0.0.1", AttachToken.New());
        var started = Stopwatch.StartNew();
        Assert.Null(listener.AcceptPrimary(Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2, () => false));
        Assert.InRange(started.Elapsed.TotalSeconds, 0.4, 5);
    }

    private static Socket Connect(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect("127.0.0.1", port);
        return socket;
    }
}
