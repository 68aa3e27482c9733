using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Lockstep.Cluster.Tests;

/// <summary>One cluster node process of a test.</summary>
public sealed class NodeProcess(int port, ChildProcess process, string logPath)
{
    public int Port { get; } = port;
    public ChildProcess Process { get; } = process;
    public string LogPath { get; } = logPath;
    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>False once the test killed it.</summary>
    public bool Alive { get; set; } = true;

    /// <summary>How the process stood when the test ended.</summary>
    public string ExitNote { get; set; } = "";

    public override string ToString() => $"node {Endpoint} (pid {Process.Id})";
}

/// <summary>What `vm status --json` said.</summary>
public sealed record VmStatusView(string Name, string State, long Generation, string? Primary, string? Secondary, string Json)
{
    public static VmStatusView Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        return new VmStatusView(
            root.GetProperty("name").GetString() ?? "",
            root.GetProperty("state").GetString() ?? "",
            root.GetProperty("generation").GetInt64(),
            NullableString(root, "primary"),
            NullableString(root, "secondary"),
            json);
    }

    public override string ToString() => $"{State} g{Generation} primary={Primary ?? "-"} secondary={Secondary ?? "-"}";

    private static string? NullableString(JsonElement root, string property) =>
        root.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

public sealed record CliResult(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)
{
    public override string ToString() =>
        $"exit {ExitCode}\n--- stdout\n{string.Join("\n", Stdout)}\n--- stderr\n{string.Join("\n", Stderr)}";
}

/// <summary>
/// A cluster of `lockstep node` processes for one test, in its own temporary folder (working
/// directory and journal) and on its own ports. Disposing it kills every process it started; the
/// folder is removed when the test passed (unless LOCKSTEP_TESTS_KEEP=1) and kept, with the node logs
/// shown, when it did not.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    /// <summary>No test may run longer than this, whatever it waits for.</summary>
    private static readonly TimeSpan TestLimit = TimeSpan.FromMinutes(3);

    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(60);

    private readonly LockstepProgram _program;
    private readonly ITestOutputHelper _output;
    private readonly List<NodeProcess> _nodes = [];
    private readonly List<ChildProcess> _clients = [];
    private readonly CancellationTokenSource _limit = new(TestLimit);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private bool _passed;

    public TestCluster(LockstepProgram program, ITestOutputHelper output, string testName, int basePort)
    {
        _program = program;
        _output = output;
        BasePort = basePort;
        Folder = Path.Combine(TestPaths.Root, $"{testName}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(Folder);
        Journal = $"sqlite:{Path.Combine(Folder, "lockstep.db")}";
    }

    public int BasePort { get; }
    public string Folder { get; }
    public string Journal { get; }
    public IReadOnlyList<NodeProcess> Nodes => _nodes;
    public IEnumerable<NodeProcess> LiveNodes => _nodes.Where(n => n.Alive);

    /// <summary>Cancelled when the test has run for too long.</summary>
    public CancellationToken Cancel => _limit.Token;

    /// <summary>All live nodes as a --contact value.</summary>
    public string Contact => ContactOf(LiveNodes);

    public static string ContactOf(IEnumerable<NodeProcess> nodes) => string.Join(",", nodes.Select(n => n.Endpoint));

    public void Log(string message) => _output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s {DateTime.UtcNow:HH:mm:ss.fff}Z] {message}");

    /// <summary>Starts <paramref name="count"/> nodes (the first is the seed) and waits until all are Up.</summary>
    public async Task StartNodes(int count = 3)
    {
        for (int i = 0; i < count; i++) EnsurePortFree(BasePort + i);
        int seedPort = BasePort;
        for (int i = 0; i < count; i++)
        {
            int port = BasePort + i;
            string logPath = Path.Combine(Folder, $"node{port}.log");
            var info = _program.StartInfo(Folder,
                ["node", "--port", port.ToString(), "--seeds", $"127.0.0.1:{seedPort}", "--journal", Journal]);
            var process = ChildProcess.Start(info, $"node {port}", logPath);
            _nodes.Add(new NodeProcess(port, process, logPath));
            Log($"started node {port} (pid {process.Id})");
            if (i == 0)
            {
                // The others join through the seed, so let it form the cluster first.
                bool seedUp = await process.WaitForOutput(p => p.AllOutput.Contains(UpLine(port), StringComparison.Ordinal),
                    TimeSpan.FromSeconds(60), Cancel);
                if (!seedUp) throw new InvalidOperationException($"the seed node {port} did not come up:\n{Tail(process.AllOutput, 40)}");
            }
        }
        var seed = _nodes[0].Process;
        bool allUp = await seed.WaitForOutput(p => _nodes.All(n => p.AllOutput.Contains(UpLine(n.Port), StringComparison.Ordinal)),
            TimeSpan.FromSeconds(60), Cancel);
        if (!allUp)
            throw new InvalidOperationException($"not all {count} nodes became Up within 60 s; seed log:\n{Tail(seed.AllOutput, 40)}");
        Log($"all {count} nodes are Up");
    }

    /// <summary>The line the leader logs when it moves a node to Up.</summary>
    private static string UpLine(int port) => $"Leader is moving node [akka.tcp://lockstep@127.0.0.1:{port}] to [Up]";

    public NodeProcess NodeAt(string? endpoint) =>
        _nodes.SingleOrDefault(n => n.Endpoint == endpoint)
        ?? throw new InvalidOperationException($"'{endpoint}' is not one of this test's nodes ({ContactOf(_nodes)})");

    /// <summary>kill -9 the node's process.</summary>
    public void KillNode(NodeProcess node)
    {
        node.Process.Kill();
        node.Alive = false;
        Log($"killed {node}");
    }

    /// <summary>Runs one CLI command to its end (bounded), feeding it <paramref name="stdin"/> if given.</summary>
    public async Task<CliResult> Cli(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var argList = args.ToList();
        using var process = ChildProcess.Start(_program.StartInfo(Folder, argList), $"lockstep {string.Join(' ', argList)}");
        try
        {
            if (stdin is not null) await process.Stdin.WriteAsync(stdin);
            process.Stdin.Close();
        }
        catch (IOException)
        {
            // It ended without reading its input; its exit status tells why.
        }
        var limit = timeout ?? CliTimeout;
        if (!await process.WaitForExit(limit, Cancel))
        {
            process.Kill();
            throw new TimeoutException($"`lockstep {string.Join(' ', argList)}` did not end within {limit.TotalSeconds} s; output so far:\n{process.AllOutput}");
        }
        return new CliResult(process.ExitCode, process.StdoutLines, process.StderrLines);
    }

    /// <summary>`vm status NAME --json` through the given nodes (default: all live ones); null when the command failed.</summary>
    public async Task<VmStatusView?> Status(string vm, IEnumerable<NodeProcess>? through = null)
    {
        var result = await Cli(["vm", "status", vm, "--json", "--contact", ContactOf(through ?? LiveNodes)]);
        if (result.ExitCode != 0) return null;
        // The document is the lines from "{" to the closing "}" at the start of a line; anything else on
        // stdout (the client's own log lines) is noted, since it breaks `--json` for scripts.
        int start = result.Stdout.ToList().FindIndex(l => l.StartsWith('{'));
        int end = start < 0 ? -1 : result.Stdout.ToList().FindIndex(start, l => l == "}");
        if (start < 0 || end < 0) throw new InvalidOperationException($"`vm status --json` printed no JSON object:\n{result}");
        var stray = result.Stdout.Where((_, i) => i < start || i > end).Where(l => l.Length > 0).ToList();
        if (stray.Count > 0)
        {
            Log($"NOTE: `vm status --json` also printed {stray.Count} non-JSON line(s) on stdout: {stray[0]}");
        }
        try
        {
            return VmStatusView.Parse(string.Join("\n", result.Stdout.Skip(start).Take(end - start + 1)));
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"`vm status --json` printed something that is not JSON ({e.Message}):\n{result}");
        }
    }

    /// <summary>Polls the status until <paramref name="wanted"/> holds; fails with the last status seen when it does not in time.</summary>
    public async Task<VmStatusView> WaitForStatus(string vm, Func<VmStatusView, bool> wanted, TimeSpan timeout, string what,
        IEnumerable<NodeProcess>? through = null)
    {
        var clock = Stopwatch.StartNew();
        VmStatusView? last = null;
        while (true)
        {
            last = await Status(vm, through?.ToList()) ?? last;
            if (last is not null && wanted(last))
            {
                Log($"{vm}: {last} ({what}, after {clock.Elapsed.TotalSeconds:F1} s)");
                return last;
            }
            if (clock.Elapsed > timeout)
                throw new Xunit.Sdk.XunitException($"{vm} did not reach '{what}' within {timeout.TotalSeconds} s; last status: {last?.Json ?? "(none)"}");
            await Task.Delay(300, Cancel);
        }
    }

    /// <summary>Creates a kv VM and waits until it is Protected.</summary>
    public async Task<VmStatusView> CreateKv(string vm)
    {
        var created = await Cli(["vm", "create", vm, "--image", _program.KvImage, "--contact", Contact]);
        Assert.True(created.ExitCode == 0, $"vm create {vm} failed: {created}");
        return await WaitForStatus(vm, s => s.State == "Protected" && s.Primary is not null && s.Secondary is not null,
            TimeSpan.FromSeconds(40), "Protected");
    }

    /// <summary>Starts `vm send` with its stdin open, for the test to feed.</summary>
    public ChildProcess StartSend(string vm, uint peer, IEnumerable<NodeProcess>? through = null)
    {
        var args = new List<string>
        {
            "vm", "send", vm, "--peer", peer.ToString(), "--retry-ms", "300", "--timeout", "60",
            "--contact", ContactOf(through ?? LiveNodes),
        };
        var process = ChildProcess.Start(_program.StartInfo(Folder, args), $"vm send {vm} --peer {peer}",
            Path.Combine(Folder, $"send-{vm}-{peer}-{_clients.Count}.out"));
        _clients.Add(process);
        return process;
    }

    /// <summary>Call last in a test: the folder may go.</summary>
    public void Passed() => _passed = true;

    public async ValueTask DisposeAsync()
    {
        // Cleanup must neither throw (it would hide the test's own failure) nor leave a process behind.
        foreach (var client in _clients) client.Dispose();
        foreach (var node in _nodes)
        {
            node.ExitNote = node.Process.HasExited ? $"had exited with {node.Process.ExitCode}" : "was still running";
            node.Process.Dispose(); // SIGKILL ends a stopped (SIGSTOP) process as well
        }
        if (_passed && Environment.GetEnvironmentVariable("LOCKSTEP_TESTS_KEEP") != "1")
        {
            try
            {
                Directory.Delete(Folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _output.WriteLine($"could not remove {Folder}: {e.Message}");
            }
        }
        else
        {
            _output.WriteLine($"test failed; its folder (node logs, journal) is kept: {Folder}");
            foreach (var node in _nodes)
            {
                _output.WriteLine($"{node}: {(node.Alive ? "" : "killed by the test, ")}{node.ExitNote}");
            }
            foreach (var node in _nodes)
            {
                try
                {
                    string text = File.Exists(node.LogPath) ? await File.ReadAllTextAsync(node.LogPath) : "(no log)";
                    _output.WriteLine($"===== {node} log, last lines =====\n{Tail(text, 60)}");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _output.WriteLine($"cannot read {node.LogPath}: {e.Message}");
                }
            }
        }
        _limit.Dispose();
    }

    public static string Tail(string text, int lines)
    {
        var all = text.Split('\n');
        return string.Join("\n", all.Skip(Math.Max(0, all.Length - lines)));
    }

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
