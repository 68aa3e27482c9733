using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// `vm send` through the front door: three nodes on 127.0.0.1/.2/.3, a kv VM exposed on one port of each, and
/// the CLI sending its lines as UDP datagrams to the nodes' addresses, resent after 50 ms to the next node.
/// One cluster for all the cases (each cluster start costs about 20 s of the suite's budget); the kill comes last.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed partial class VmSendTests(ProgramFixture program, ITestOutputHelper output)
{
    private const int NodePort = 7000;
    private const int Exposed = 17000;
    /// <summary>The nodes' front-door limit in this test, below UDP's own, so that the node's refusal can be seen.</summary>
    private const int DoorLimit = 4096;
    private const string Vm = "kv";
    private const string Plain = "plain";

    [Fact]
    public async Task Vm_send_goes_through_the_front_door_refuses_what_it_cannot_send_and_rides_out_a_kill_of_the_primarys_node()
    {
        await using var cluster = new LoopbackCluster(program, output, nameof(Vm_send_goes_through_the_front_door_refuses_what_it_cannot_send_and_rides_out_a_kill_of_the_primarys_node),
            NodePort, hocon: $"lockstep.front-door {{ max-packet = {DoorLimit} }}");
        await cluster.StartNodes();
        var created = await cluster.Cli(["vm", "create", Vm, "--image", program.KvImage, "--expose", Exposed.ToString(CultureInfo.InvariantCulture), "--contact", cluster.Contact]);
        Assert.True(created.ExitCode == 0, $"vm create failed: {created}");
        await cluster.CreateKv(Plain);
        var before = await cluster.WaitForStatus(Vm, s => s.State == "Protected" && s.Secondary is not null, TimeSpan.FromSeconds(40), "Protected");
        await WaitForAllListening(cluster);

        // Through the front door: answers as through ClusterClient, nothing on stderr.
        var sent = await Send(cluster, [], "1 PUT greeting hello\n2 GET greeting\n3 INCR visits\n");
        Assert.True(sent.ExitCode == 0 && sent.Stderr.All(l => l.Length == 0), $"vm send through the front door: {sent}");
        Assert.Equal(["1 OK", "2 VALUE hello", "3 1"], sent.Stdout);

        // Only the front door can refuse a datagram over the node's limit: the proof that this is the path taken.
        // The refusal ends the session with a clear error; nothing after it is sent.
        var refused = await Send(cluster, [], $"4 PUT big {new string('x', DoorLimit)}\n5 INCR visits\n");
        Assert.True(refused.ExitCode == 65, $"a datagram over the node's limit: {refused}");
        Assert.Contains(refused.Stderr, l => l.StartsWith($"lockstep: the front door at 127.0.0.", StringComparison.Ordinal)
            && l.Contains($"refused a request: ERROR lockstep: datagram of {DoorLimit + 10} bytes refused, the limit is {DoorLimit} bytes", StringComparison.Ordinal));
        Assert.Empty(refused.Stdout);

        // Over UDP's own limit: that line is not sent, the others are, and the exit status says a line was refused.
        var oversized = await Send(cluster, [], $"6 INCR visits\n7 PUT huge {new string('x', 70_000)}\n8 INCR visits\n");
        Assert.True(oversized.ExitCode == 65, $"a line over UDP's limit: {oversized}");
        Assert.Equal(["6 2", "8 3"], oversized.Stdout);
        Assert.Equal(["lockstep: input line 2 not sent: 70,011 bytes, a packet through the front door (port 17000 of 127.0.0.1, 127.0.0.2, 127.0.0.3) holds at most 65,507"],
            oversized.Stderr.Where(l => l.Length > 0).Select(l => OrderedAddresses().Replace(l, "127.0.0.1, 127.0.0.2, 127.0.0.3")));

        var unknown = await Send(cluster, [], "1 GET x\n", vm: "nosuch");
        Assert.True(unknown.ExitCode == 65 && OneLine(unknown).Contains("unknown VM 'nosuch'", StringComparison.Ordinal), $"vm send to an unknown VM: {unknown}");

        // Not exposed: by default through ClusterClient, said once on stderr; with --via door, an error naming `vm expose`.
        var plain = await Send(cluster, [], "1 INCR visits\n", vm: Plain);
        Assert.True(plain.ExitCode == 0, $"vm send to a VM not exposed: {plain}");
        Assert.Equal(["1 1"], plain.Stdout);
        Assert.Contains($"{Plain} is not exposed: sending through ClusterClient", OneLine(plain));
        var door = await Send(cluster, ["--via", "door"], "1 INCR visits\n", vm: Plain);
        Assert.True(door.ExitCode == 65 && OneLine(door).Contains($"`vm expose {Plain} PORT`", StringComparison.Ordinal), $"--via door to a VM not exposed: {door}");
        Assert.Empty(door.Stdout);
        var peer = await Send(cluster, ["--peer", "3"], "1 INCR visits\n");
        // --peer means ClusterClient's path (only there does a client choose its peer), exposed or not, said on nothing.
        Assert.True(peer.ExitCode == 0 && peer.Stdout.Count == 1 && peer.Stdout[0].StartsWith("1 ", StringComparison.Ordinal), $"--peer for an exposed VM: {peer}");
        Assert.DoesNotContain(peer.Stderr, line => line.Contains("not exposed", StringComparison.Ordinal));
        var wrongPort = await Send(cluster, ["--port", "17001"], "1 INCR visits\n");
        Assert.True(wrongPort.ExitCode == 65 && OneLine(wrongPort).Contains($"its ports: {Exposed}", StringComparison.Ordinal), $"--port not exposed: {wrongPort}");

        // Every node listens but nothing answers (the guest is paused): a clear error when the timeout is up.
        var pause = await cluster.Cli(["vm", "pause", Vm, "--contact", cluster.Contact]);
        Assert.True(pause.ExitCode == 0, $"vm pause: {pause}");
        var clock = Stopwatch.StartNew();
        var silent = await Send(cluster, ["--timeout", "2"], "p1 INCR paused\np2 INCR paused\n");
        cluster.Log($"vm send to the paused VM ended after {clock.Elapsed.TotalSeconds:F1} s (process start and the control plane included)");
        Assert.True(silent.ExitCode == 69, $"vm send with nothing answering: {silent}");
        Assert.Matches(@"^lockstep: no response from kv to request p1 within 2 s through the front door \(port 17000 of [0-9., ]+\); the remaining input was not sent$", OneLine(silent));
        Assert.Empty(silent.Stdout);
        var resume = await cluster.Cli(["vm", "resume", Vm, "--contact", cluster.Contact]);
        Assert.True(resume.ExitCode == 0, $"vm resume: {resume}");

        // kill -9 of the primary's node while a session streams INCRs (vm send starts at the primary's node, so the
        // kill takes the node it talks to): every INCR answered exactly once, through the other nodes.
        var primary = cluster.NodeAt(before.Primary);
        var send = cluster.StartClient(["vm", "send", Vm, "--timeout", "60", "--contact", cluster.Contact], "vm send (stream)", "send-stream");
        var stream = IncrStream.Over(cluster, send, "s", "streamed", 200);
        await stream.WaitForAnswers(30, TimeSpan.FromSeconds(60));
        int answeredAtKill = stream.Answered;
        clock.Restart();
        cluster.KillNode(primary);
        Assert.True(answeredAtKill < stream.Count, "the stream was over before the kill");
        var lines = await stream.Finish(TimeSpan.FromSeconds(90));
        cluster.Log($"{answeredAtKill} answered at the kill; the remaining {stream.Count - answeredAtKill} took {clock.Elapsed.TotalSeconds:F1} s");
        stream.AssertExactlyOnce(lines, before: 0);
        Assert.True(send.StderrLines.All(l => l.Length == 0), $"vm send wrote to stderr: {string.Join("\n", send.StderrLines)}");
        cluster.Passed();
    }

    private static Task<CliResult> Send(TestCluster cluster, IReadOnlyList<string> options, string stdin, string vm = Vm) =>
        cluster.Cli(["vm", "send", vm, .. options, "--contact", cluster.Contact], stdin);

    private static string OneLine(CliResult result)
    {
        var lines = result.Stderr.Where(l => l.Length > 0).ToList();
        Assert.True(lines.Count == 1, $"expected one line on stderr: {result}");
        return lines[0];
    }

    /// <summary>Polls `vm expose` until all three nodes report their listener open, so the CLI learns all three addresses.</summary>
    private static async Task WaitForAllListening(TestCluster cluster)
    {
        var clock = Stopwatch.StartNew();
        string shown = "";
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            var result = await cluster.Cli(["vm", "expose", Vm, "--contact", cluster.Contact]);
            shown = string.Join("\n", result.Stdout);
            if (Regex.Count(shown, $@"port {Exposed} on \S+ \(node \S+\): listening") == 3) return;
            await Task.Delay(300, cluster.Cancel);
        }
        throw new Xunit.Sdk.XunitException($"not every node listens on {Exposed} within 30 s:\n{shown}");
    }

    /// <summary>The nodes in the order the CLI tries them (from the primary's): any order of the three.</summary>
    [GeneratedRegex(@"127\.0\.0\.[123], 127\.0\.0\.[123], 127\.0\.0\.[123]")]
    private static partial Regex OrderedAddresses();
}
