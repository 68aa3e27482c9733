using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Lockstep.Cluster.Tests;

public sealed partial class FrontDoorTests
{
    /// <summary>
    /// A TCP client that asks for 1 KiB answers as fast as it can and reads them at a trickle: its answers pile up in the
    /// node until the node's bound per connection is passed; then that client gets an error line after what was written and
    /// its connection is closed, while another client of the same port on the same node keeps being answered throughout.
    /// </summary>
    [Fact]
    public async Task A_tcp_client_that_does_not_read_its_answers_is_told_and_closed_and_others_are_not_held_up()
    {
        const int exposed = 5930;
        await using var cluster = new LoopbackCluster(program, output, nameof(A_tcp_client_that_does_not_read_its_answers_is_told_and_closed_and_others_are_not_held_up), 5920);
        await cluster.StartNodes();
        await cluster.CreateKv(Vm);
        var expose = await cluster.Cli(["vm", "expose", Vm, exposed.ToString(CultureInfo.InvariantCulture), "--contact", cluster.Contact]);
        Assert.True(expose.ExitCode == 0, $"vm expose failed: {expose}");
        await WaitForListeners(cluster, exposed, open: 3);
        var door = new IPEndPoint(LoopbackCluster.HostOf(0), exposed);
        var node = cluster.Nodes[0];

        using var other = new PlainTcpClient();
        await other.Connect(door, cluster.Cancel);
        Assert.Equal("OK", await other.Ask("p1", "PUT big " + new string('v', 1000), GiveUp, cluster.Cancel));

        // The hog: a small receive buffer, so that the kernels hold few of its answers and the node's own bound is what fills.
        using var hog = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, NoDelay = true };
        await hog.ConnectAsync(door, cluster.Cancel);
        using var fast = new CancellationTokenSource();
        var received = new MemoryStream();
        var reading = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            while (true)
            {
                int got;
                try
                {
                    got = await hog.ReceiveAsync(buffer.AsMemory(0, fast.IsCancellationRequested ? buffer.Length : 1024), cluster.Cancel);
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
                {
                    return "reset"; // the door's close resets (its reader thread is still in a receive); what was read before counts
                }
                if (got == 0) return "closed";
                received.Write(buffer, 0, got);
                // A trickle (well inside the door's send timeout, so no write to it times out) until told to read all.
                if (!fast.IsCancellationRequested) await Task.Delay(100, cluster.Cancel);
            }
        }, cluster.Cancel);

        const string warning = "left 1024 answers unread; closing it";
        int asked = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var othersAnswers = new List<string>();
        while (!node.Output.Contains(warning, StringComparison.Ordinal))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"the node did not close the hog's connection within 60 s ({asked} requests sent, {received.Length} bytes read)");
            // In bursts the guest's input queue takes (it drops what does not fit, which only slows the pile-up down).
            var burst = new StringBuilder();
            for (int i = 0; i < 32; i++) burst.Append(CultureInfo.InvariantCulture, $"g{++asked} GET big\n");
            try
            {
                await hog.SendAsync(Encoding.ASCII.GetBytes(burst.ToString()), cluster.Cancel);
            }
            catch (SocketException)
            {
                break; // closed already: the warning is on its way to the log
            }
            if (asked % 640 == 0) othersAnswers.Add(await other.Ask($"i{asked}", "INCR others", TimeSpan.FromSeconds(10), cluster.Cancel));
            await Task.Delay(2, cluster.Cancel);
        }
        cluster.Log($"the node closed the hog after {asked} requests, {clock.Elapsed.TotalSeconds:F1} s; the other connection was answered {othersAnswers.Count} times meanwhile");
        await fast.CancelAsync();
        string end = await reading.WaitAsync(TimeSpan.FromSeconds(30), cluster.Cancel);
        cluster.Log($"the hog read {received.Length} bytes, then its connection was {end}");

        var lines = Encoding.ASCII.GetString(received.ToArray()).Split('\n');
        Assert.Equal("", lines[^1]); // the last line ended, then the connection
        Assert.Equal("ERROR lockstep: answers to this connection were lost: it left 1024 unread; closing it", lines[^2]);
        var answers = lines[..^2];
        Assert.True(answers.Length > 1024, $"only {answers.Length} answers came before the error line");
        Assert.All(answers, a => Assert.Matches("^g[0-9]+ VALUE v{1000}$", a));

        // The other connection on the same node and port was never held up and is still served.
        Assert.Equal(Enumerable.Range(1, othersAnswers.Count).Select(n => n.ToString(CultureInfo.InvariantCulture)), othersAnswers);
        Assert.Equal((othersAnswers.Count + 1).ToString(CultureInfo.InvariantCulture), await other.Ask("last", "INCR others", GiveUp, cluster.Cancel));
        cluster.Passed();
    }
}
