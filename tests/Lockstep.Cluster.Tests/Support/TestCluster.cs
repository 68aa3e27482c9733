using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Lockstep.Cluster.Tests;

/// <summary>One cluster node process of a test.</summary>
public sealed class NodeProcess(int port, ChildProcess process, string logPath) : ClusterNode(port, process, logPath)
{
    public override string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>False once the test killed it.</summary>
    public bool Alive { get; set; } = true;

    public override string ToString() => $"node {Endpoint} (pid {Process.Id})";
}

/// <summary>
/// A cluster of `lockstep node` processes for one test, in its own temporary folder (working
/// directory and journal) and on its own ports. Disposing it kills every process it started; the
/// folder is removed when the test passed (unless LOCKSTEP_TESTS_KEEP=1) and kept, with the node logs
/// shown, when it did not.
/// </summary>
public sealed class TestCluster : ClusterHarness<NodeProcess>
{
    /// <param name="journal">The nodes' --journal; default: a SQLite file in the test's folder.</param>
    public TestCluster(LockstepProgram program, ITestOutputHelper output, string testName, int basePort, string? journal = null)
        : base(program, output, testName, basePort)
    {
        Journal = journal ?? $"sqlite:{Path.Combine(Folder, "lockstep.db")}";
    }

    public string Journal { get; }
    public IEnumerable<NodeProcess> LiveNodes => Nodes.Where(n => n.Alive);

    /// <summary>All live nodes as a --contact value.</summary>
    public string Contact => ContactOf(LiveNodes);

    protected override IEnumerable<NodeProcess> DefaultNodes => LiveNodes;

    /// <summary>Starts <paramref name="count"/> nodes (the first is the seed) and waits until all are Up.</summary>
    public async Task StartNodes(int count = 3)
    {
        for (int i = 0; i < count; i++) EnsurePortFree(BasePort + i);
        int seedPort = BasePort;
        for (int i = 0; i < count; i++)
        {
            int port = BasePort + i;
            string logPath = Path.Combine(Folder, $"node{port}.log");
            var info = Program.StartInfo(Folder,
                ["node", "--port", port.ToString(), "--seeds", $"127.0.0.1:{seedPort}", "--journal", Journal]);
            var process = ChildProcess.Start(info, $"node {port}", logPath);
            var node = new NodeProcess(port, process, logPath);
            AddNode(node);
            Log($"started node {port} (pid {process.Id})");
            // The others join through the seed, so let it form the cluster first.
            if (i == 0) await WaitForSeedUp(node, $"node {port}");
        }
        await WaitForAllUp(count);
    }

    /// <summary>kill -9 the node's process.</summary>
    public void KillNode(NodeProcess node)
    {
        node.Process.Kill();
        node.Alive = false;
        Log($"killed {node}");
    }

    /// <summary>Runs one CLI command to its end (bounded), feeding it <paramref name="stdin"/> if given.</summary>
    public async Task<CliResult> Cli(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null) =>
        (await RunCli(args, stdin, timeout ?? CliTimeout, throwOnTimeout: true))!;

    /// <summary>`vm status NAME --json` through the given nodes (default: all live ones); null when the command failed.</summary>
    public async Task<VmStatusView?> Status(string vm, IEnumerable<NodeProcess>? through = null)
    {
        var result = await Cli(["vm", "status", vm, "--json", "--contact", ContactOf(through ?? LiveNodes)]);
        if (result.ExitCode != 0) return null;
        // Anything on stdout besides the document (the client's own log lines) is noted, since it
        // breaks `--json` for scripts.
        var (json, stray) = FindStatusJson(result);
        if (json is null) throw new InvalidOperationException($"`vm status --json` printed no JSON object:\n{result}");
        if (stray.Count > 0)
        {
            Log($"NOTE: `vm status --json` also printed {stray.Count} non-JSON line(s) on stdout: {stray[0]}");
        }
        try
        {
            return VmStatusView.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"`vm status --json` printed something that is not JSON ({e.Message}):\n{result}");
        }
    }

    protected override Task<VmStatusView?> PollStatus(string vm, IEnumerable<NodeProcess>? through) => Status(vm, through);

    /// <summary>Starts `vm send` with its stdin open, for the test to feed.</summary>
    public ChildProcess StartSend(string vm, uint peer, IEnumerable<NodeProcess>? through = null) =>
        StartSendThrough(vm, peer, through ?? LiveNodes);

    protected override string EndNote(NodeProcess node) => $"{node}: {(node.Alive ? "" : "killed by the test, ")}{node.ExitNote}";

    /// <summary>Fails clearly when something already listens on <paramref name="port"/>.</summary>
    public static void EnsurePortFree(int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            probe.Stop();
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException($"port {port} is already in use ({e.SocketErrorCode}); these tests need ports {port} and up free", e);
        }
    }
}
