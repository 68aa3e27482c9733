using System.Net;
using System.Net.Sockets;
using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Tests;

/// <summary>The channel's reader thread under closes from either side, at any moment.</summary>
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
            for (int i = 0; i < round % 4; i++) remote.Send(new AckFrame(0, 0, 0));
            if (round % 2 == 0) local.Close(CloseReason.Local, "closed by the test");
            else remote.Close(CloseReason.Local, "closed by the test");
            Assert.True(SpinWait.SpinUntil(() => !local.IsOpen && !remote.IsOpen, TimeSpan.FromSeconds(5)),
                $"round {round}: a side stayed open (local: {local.ClosedDetail ?? "open"}, remote: {remote.ClosedDetail ?? "open"})");
        }
    }

    /// <summary>
    /// The peer closes the moment it reads a goodbye, and this side's reader can see that close before the
    /// goodbye's sender has marked the channel closed: it must still end as an orderly goodbye, or a dismissed
    /// secondary would count as a failure (seen in OperationsTests on a loaded machine).
    /// </summary>
    [Fact]
    public void A_goodbye_stays_a_goodbye_however_fast_the_peer_closes()
    {
        for (int round = 0; round < 300; round++)
        {
            // The reader of `remote` closes its socket as soon as the goodbye arrives.
            var (local, remote) = Pair();
            local.SayGoodbye();
            Assert.True(SpinWait.SpinUntil(() => !remote.IsOpen, TimeSpan.FromSeconds(5)), $"round {round}: the peer never saw the goodbye");
            Assert.Equal(CloseReason.SaidGoodbye, local.ClosedReason);
            Assert.Equal(CloseReason.PeerSaidGoodbye, remote.ClosedReason);
        }
    }

    /// <summary>A connect that cannot succeed fails with a socket error the attaching primary handles, not some other exception.</summary>
    [Fact]
    public void Connecting_to_a_port_nobody_listens_on_is_refused()
    {
        int port;
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((IPEndPoint)listener.LocalEndpoint).Port;
        }
        var e = Assert.Throws<SocketException>(() =>
            LockstepChannel.Connect("127.0.0.1", port, AttachToken.New(), _ => { }, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5)));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    private static (LockstepChannel Local, LockstepChannel Remote) Pair()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var accepted = listener.AcceptSocketAsync();
        var local = LockstepChannel.Connect("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port, AttachToken.New(), _ => { },
            TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
        var remote = new LockstepChannel(accepted.GetAwaiter().GetResult(), _ => { }, TimeSpan.FromSeconds(5)).Start();
        return (local, remote);
    }
}
