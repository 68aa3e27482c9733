using System.Net;
using System.Net.Sockets;
using Lockstep.Actors.Lockstep;

namespace Lockstep.Actors.Tests;

/// <summary>The channel's reader thread under closes from either side, and the order of frames around a background send.</summary>
public sealed class LockstepChannelTests
{
    /// <summary>
    /// A close disposes the stream under the reader's pending read, or before the reader thread has
    /// even started. An exception escaping the reader thread ends the whole process (a node, here the
    /// test host), so this must end the channel and nothing else, however the two interleave. Both
    /// cases once crashed the process; each showed up in some runs of a few hundred rounds.
    /// </summary>
    [Fact]
    public void Closing_under_a_waiting_reader_ends_the_channel_quietly_every_time()
    {
        for (int round = 0; round < 1000; round++)
        {
            var (local, remote) = Pair();
            // Frames in flight towards the side that closes, so its reader is in the middle of reading.
            for (int i = 0; i < round % 4; i++) remote.Send(FrameType.Ack, new byte[24]);
            if (round % 2 == 0) local.Close("closed by the test");
            else remote.Close("closed by the test");
            Assert.True(SpinWait.SpinUntil(() => !local.IsOpen && !remote.IsOpen, TimeSpan.FromSeconds(5)),
                $"round {round}: a side stayed open (local: {local.ClosedReason ?? "open"}, remote: {remote.ClosedReason ?? "open"})");
        }
    }

    /// <summary>A snapshot goes out from a thread of its own while the primary goes on sending: the peer must see it first, then the rest in order.</summary>
    [Fact]
    public void Frames_sent_while_a_large_one_goes_out_in_the_background_follow_it_in_order()
    {
        var received = new List<(FrameType Type, byte[] Payload)>();
        var all = new ManualResetEventSlim(false);
        const int after = 200;
        var (local, remote) = Pair(onRemoteFrame: (type, payload) =>
        {
            lock (received)
            {
                received.Add((type, payload));
                if (received.Count == after + 1) all.Set();
            }
        });
        var snapshot = new byte[12 << 20];
        new Random(5).NextBytes(snapshot);
        local.SendInBackground(FrameType.Snapshot, snapshot);
        for (int i = 0; i < after; i++) local.Send(FrameType.Segment, BitConverter.GetBytes(i));

        Assert.True(all.Wait(TimeSpan.FromSeconds(30)), $"only {received.Count} of {after + 1} frames arrived");
        Assert.Equal(FrameType.Snapshot, received[0].Type);
        Assert.Equal(snapshot, received[0].Payload);
        Assert.Equal(Enumerable.Range(0, after), received.Skip(1).Select(f => BitConverter.ToInt32(f.Payload)));
        Assert.True(local.IsOpen && remote.IsOpen);
        local.Close("done");
        remote.Close("done");
    }

    /// <summary>A primary stopped in good order while the snapshot is still on its way: the secondary must hear the goodbye, or it would take over.</summary>
    [Fact]
    public void A_goodbye_right_after_a_background_send_arrives_after_it()
    {
        var snapshotArrived = false;
        var (local, remote) = Pair(onRemoteFrame: (type, payload) => snapshotArrived |= type == FrameType.Snapshot && payload.Length == 12 << 20);
        local.SendInBackground(FrameType.Snapshot, new byte[12 << 20]);
        local.SayGoodbye();
        Assert.True(SpinWait.SpinUntil(() => !remote.IsOpen, TimeSpan.FromSeconds(10)), "the far side never saw the channel end");
        Assert.True(snapshotArrived, "the snapshot did not arrive whole");
        Assert.Equal("peer said goodbye", remote.ClosedReason);
    }

    private static (LockstepChannel Local, LockstepChannel Remote) Pair(Action<FrameType, byte[]>? onRemoteFrame = null)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accepted = listener.AcceptSocketAsync();
        var local = LockstepChannel.Connect("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, (_, _) => { },
            TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        var remote = new LockstepChannel(accepted.GetAwaiter().GetResult(), onRemoteFrame ?? ((_, _) => { }), TimeSpan.FromSeconds(5));
        return (local, remote);
    }
}
