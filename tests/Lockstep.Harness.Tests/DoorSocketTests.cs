using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lockstep.Harness.Tests;

/// <summary>
/// The front-door client's socket, against plain UDP sockets standing in for three nodes' doors on 127.0.0.1/.2/.3:
/// one source address for every node (so one guest peer), turning to the next node, answers from any node.
/// </summary>
public sealed class DoorSocketTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Sends_to_its_node_turns_to_the_next_and_hears_answers_from_any()
    {
        var doors = Enumerable.Range(1, 3).Select(i => Bind(IPAddress.Parse($"127.0.0.{i}"))).ToList();
        try
        {
            var endpoints = doors.Select(d => (IPEndPoint)d.Client.LocalEndPoint!).ToList();
            using var client = new DoorSocket(endpoints, first: 2);
            Assert.Equal(endpoints[2], client.Current);

            client.Send(Encoding.UTF8.GetBytes("1 INCR c"));
            var atThird = await Receive(doors[2]);
            Assert.Equal("1 INCR c", Encoding.UTF8.GetString(atThird.Buffer));

            client.SendToNext(Encoding.UTF8.GetBytes("1 INCR c"));
            var atFirst = await Receive(doors[0]);
            Assert.Equal(endpoints[0], client.Current);
            Assert.Equal(1, client.Turns);
            // The same client address at both nodes: what makes it one peer on every node.
            Assert.Equal(atThird.RemoteEndPoint, atFirst.RemoteEndPoint);

            // An answer from the node it turned away from still reaches it, line end dropped.
            await doors[2].SendAsync(Encoding.UTF8.GetBytes("1 1\n"), atThird.RemoteEndPoint);
            using var timeout = new CancellationTokenSource(Wait);
            var answer = await client.ReceiveAsync(timeout.Token);
            Assert.Equal(("1 1", endpoints[2]), answer);

            Assert.Throws<ArgumentException>(() => client.Send(new byte[DoorSocket.MaxDatagram + 1]));
        }
        finally
        {
            foreach (var door in doors) door.Dispose();
        }
    }

    [Fact]
    public async Task Receiving_ends_with_null_when_cancelled_or_disposed()
    {
        using var door = Bind(IPAddress.Loopback);
        var client = new DoorSocket([(IPEndPoint)door.Client.LocalEndPoint!]);
        using (var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50)))
            Assert.Null(await client.ReceiveAsync(cancel.Token));
        var pending = client.ReceiveAsync(CancellationToken.None);
        client.Dispose();
        Assert.Null(await pending.AsTask().WaitAsync(Wait));
    }

    [Fact]
    public void The_pacer_holds_nothing_back_without_a_resend()
    {
        var pacer = new RequestPacer();
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(0, pacer.WaitMs(i));
            pacer.Started(i);
        }
    }

    [Fact]
    public void After_a_resend_the_pacer_spreads_63_more_requests_over_the_window_and_the_64th_waits_for_it_to_close()
    {
        var pacer = new RequestPacer();
        pacer.Started(0);
        pacer.Resent(50);
        // A greedy client: each request is answered 1 ms after it starts, the next starts as soon as the pacer allows.
        var starts = new List<long>();
        long now = 51;
        while (starts.Count < RequestPacer.GuestMemory)
        {
            long wait = pacer.WaitMs(now);
            if (wait > 0)
            {
                now += wait;
                continue;
            }
            pacer.Started(now);
            starts.Add(now);
            now++;
        }
        long closes = 50 + RequestPacer.LateCopyWindowMs;
        // The 64th after the resent one would push its id out of kv's memory while a late copy may still come.
        Assert.Equal(RequestPacer.GuestMemory - 1, starts.Count(t => t < closes));
        Assert.Equal(closes, starts[^1]);
        // Spread, not a burst and then the rest of the window with nothing in flight.
        long widest = starts.Zip(starts.Skip(1), (a, b) => b - a).Max();
        Assert.InRange(widest, 1, RequestPacer.LateCopyWindowMs / RequestPacer.GuestMemory + 1);
    }

    [Fact]
    public void A_later_resend_paces_from_its_own_moment_and_nothing_is_held_once_every_window_closed()
    {
        var pacer = new RequestPacer();
        pacer.Started(0);
        pacer.Resent(50);
        pacer.Resent(100); // the same request sent a third time
        // The n-th request after the resent one: n/64 of the window after the later resend, which binds over the first.
        Assert.Equal(100 + 1 * RequestPacer.LateCopyWindowMs / RequestPacer.GuestMemory - 60, pacer.WaitMs(60));
        pacer.Started(104);
        Assert.Equal(100 + 2 * RequestPacer.LateCopyWindowMs / RequestPacer.GuestMemory - 104, pacer.WaitMs(104));
        Assert.Equal(0, pacer.WaitMs(100 + RequestPacer.LateCopyWindowMs));
    }

    [Fact]
    public void Answers_without_a_sequence_number_are_matched_by_id_and_a_second_answer_is_a_repeat()
    {
        var session = new KvSession(window: 1, retryMs: 50, timeoutMs: 1000);
        session.TryStart("7 INCR c", nowMs: 0);
        session.DueForResend(50);
        Assert.Equal(KvReceiptKind.Answer, session.Receive("7 1").Kind);
        Assert.Equal(KvReceiptKind.Repeat, session.Receive("7 1").Kind);
        Assert.Equal(KvReceiptKind.Unsolicited, session.Receive("8 2").Kind);
    }

    private static UdpClient Bind(IPAddress address) => new(new IPEndPoint(address, 0));

    private static async Task<UdpReceiveResult> Receive(UdpClient door)
    {
        using var timeout = new CancellationTokenSource(Wait);
        return await door.ReceiveAsync(timeout.Token);
    }
}
