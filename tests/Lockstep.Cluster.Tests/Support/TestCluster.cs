using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Lockstep.Harness;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// The nodes of one test, a <see cref="NodeCluster"/> on 127.0.0.1 in a folder of the test's own (working
/// directory and journal) and on ports of its own, and what the tests do with them: the CLI run against
/// them, `vm status` polled, a kv VM created, `vm send` sessions started, all logged with times to the test's
/// output, within a time limit. Disposing it kills every process it started; the folder is removed when the
/// test passed (unless LOCKSTEP_TESTS_KEEP=1), else kept and the node logs shown.
/// </summary>
public class TestCluster : IAsyncDisposable
{
    /// <summary>No test may run longer than this (unless it says otherwise), whatever it waits for.</summary>
    private static readonly TimeSpan TestLimit = TimeSpan.FromMinutes(3);

    /// <summary>For the seed to be Up, then for all nodes to be Up.</summary>
    private static readonly TimeSpan UpWithin = TimeSpan.FromSeconds(60);

    protected static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(60);

    private readonly NodeCluster _nodes;
    private readonly List<ChildProcess> _clients = [];
    private readonly CancellationTokenSource _limit;
    private readonly List<string> _failures = [];
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private bool _passed;

    /// <param name="journal">The nodes' --journal; default: a SQLite file in the test's folder.</param>
    /// <param name="limit">How long the test may run at most; default <see cref="TestLimit"/>.</param>
    public TestCluster(ProgramFixture program, ITestOutputHelper output, string testName, int basePort, string? journal = null, TimeSpan? limit = null)
    {
        _limit = new CancellationTokenSource(limit ?? TestLimit);
        Program = program;
        Output = output;
        BasePort = basePort;
        Folder = Path.Combine(TestPaths.Root, $"{testName}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(Folder);
        Journal = journal ?? $"sqlite:{Path.Combine(Folder, "lockstep.db")}";
        _nodes = new NodeCluster(program.Program, Folder, Journal, Log, WrapNode);
    }

    protected ProgramFixture Program { get; }
    protected ITestOutputHelper Output { get; }
    public int BasePort { get; }
    public string Folder { get; }
    public string Journal { get; }
    public IReadOnlyList<NodeProcess> Nodes => _nodes.Nodes;

    /// <summary>The nodes the CLI talks to when the test names none: not killed, frozen or cut off by the test.</summary>
    public IReadOnlyList<NodeProcess> Contacts => _nodes.Contacts;

    /// <summary><see cref="Contacts"/> as a --contact value.</summary>
    public string Contact => ContactOf(Contacts);

    /// <summary>Cancelled when the test has run for too long.</summary>
    public CancellationToken Cancel => _limit.Token;

    public static string ContactOf(IEnumerable<NodeProcess> nodes) => NodeCluster.ContactOf(nodes);

    /// <summary>
    /// A failure a helper saw, with the time: repeated at the very end of the failure report, since a CI log
    /// may show only its last part and xunit prints the assertion's message before the test's output.
    /// </summary>
    public void NoteFailure(string message)
    {
        lock (_failures) _failures.Add($"[{_clock.Elapsed.TotalSeconds,6:F1}s {DateTime.UtcNow:HH:mm:ss.fff}Z] {message}");
    }

    public void Log(string message)
    {
        try
        {
            Output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s {DateTime.UtcNow:HH:mm:ss.fff}Z] {message}");
        }
        catch (InvalidOperationException)
        {
            // The test has ended (a node's exit can be reported late); its output takes no more lines.
        }
    }

    public NodeProcess NodeAt(string? endpoint) =>
        _nodes.Find(endpoint) ?? throw new InvalidOperationException($"'{endpoint}' is not one of this test's nodes ({ContactOf(Nodes)})");

    /// <summary>Starts <paramref name="count"/> nodes (the first is the seed) and waits until all are Up.</summary>
    public Task StartNodes(int count = 3) => _nodes.StartAsync(PrepareNodes(count), UpWithin, Cancel);

    /// <summary>kill -9 the node's process.</summary>
    public void KillNode(NodeProcess node)
    {
        _nodes.Kill(node);
        Log($"killed {node}");
    }

    /// <summary>SIGTERM: the node leaves the cluster gracefully; it is no contact from now on.</summary>
    public void LeaveNode(NodeProcess node)
    {
        _nodes.Leave(node);
        Log($"SIGTERM (leave) {node}");
    }

    /// <summary>SIGSTOP the node's process; it is no contact from now on.</summary>
    public void PauseNode(NodeProcess node)
    {
        _nodes.Pause(node);
        Log($"SIGSTOP {node}");
    }

    /// <summary>SIGCONT; the node stays out of <see cref="Contacts"/>.</summary>
    public void ResumeNode(NodeProcess node)
    {
        _nodes.Resume(node);
        Log($"SIGCONT {node}");
    }

    /// <summary>
    /// SIGSTOP every node at once (one `kill`), SIGCONT every one after <paramref name="stall"/>: the whole machine
    /// stood still (a starved host holds all its processes). They stay contacts.
    /// </summary>
    public void StallAllNodes(TimeSpan stall)
    {
        var running = Nodes.Where(n => !n.Process.HasExited && !n.Paused).ToList();
        var processes = running.Select(n => n.Process).ToList();
        ChildProcess.Signal("STOP", processes);
        Log($"SIGSTOP {string.Join(", ", running)}");
        Thread.Sleep(stall);
        ChildProcess.Signal("CONT", processes);
        Log($"SIGCONT {string.Join(", ", running)} after {stall.TotalSeconds:F1} s");
    }

    /// <summary>Where node i listens, the cluster being about to start <paramref name="count"/> nodes.</summary>
    protected virtual IReadOnlyList<(string Host, int Port)> PrepareNodes(int count)
    {
        for (int i = 0; i < count; i++) EnsurePortFree(BasePort + i);
        return Enumerable.Range(0, count).Select(i => ("127.0.0.1", BasePort + i)).ToList();
    }

    /// <summary>How node <paramref name="index"/> is started; as the program's start description says by default.</summary>
    protected virtual ProcessStartInfo WrapNode(int index, ProcessStartInfo info) => info;

    /// <summary>How a CLI process is started.</summary>
    protected virtual ProcessStartInfo ClientStartInfo(IEnumerable<string> args) => Program.Program.StartInfo(Folder, args);

    /// <summary>Runs one CLI command to its end (bounded), feeding it <paramref name="stdin"/> if given; throws when it does not end in time.</summary>
    public async Task<CliResult> Cli(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null) =>
        (await RunCli(args, stdin, timeout ?? CliTimeout, throwOnTimeout: true))!;

    /// <summary>Runs one CLI command to its end, feeding it <paramref name="stdin"/> if given; on <paramref name="timeout"/> it is killed and null is returned.</summary>
    public Task<CliResult?> TryCli(IEnumerable<string> args, string? stdin, TimeSpan timeout) =>
        RunCli(args, stdin, timeout, throwOnTimeout: false);

    private async Task<CliResult?> RunCli(IEnumerable<string> args, string? stdin, TimeSpan timeout, bool throwOnTimeout)
    {
        var argList = args.ToList();
        using var process = ChildProcess.Start(ClientStartInfo(argList), $"lockstep {string.Join(' ', argList)}");
        try
        {
            if (stdin is not null) await process.Stdin.WriteAsync(stdin);
            process.Stdin.Close();
        }
        catch (IOException)
        {
            // It ended without reading its input; its exit status tells why.
        }
        if (!await process.WaitForExit(timeout, Cancel))
        {
            process.Kill();
            if (throwOnTimeout)
                throw new TimeoutException($"`lockstep {string.Join(' ', argList)}` did not end within {timeout.TotalSeconds} s; output so far:\n{process.AllOutput}");
            return null;
        }
        return new CliResult(process.ExitCode, process.StdoutLines, process.StderrLines);
    }

    /// <summary>`vm status NAME --json` through the given nodes (default: the contacts); null when the command failed.</summary>
    public virtual async Task<VmStatusView?> Status(string vm, IEnumerable<NodeProcess>? through = null, TimeSpan? timeout = null)
    {
        var result = await Cli(["vm", "status", vm, "--json", "--contact", ContactOf(through ?? Contacts)], timeout: timeout);
        if (result.ExitCode != 0) return null;
        // Anything on stdout besides the document (the client's own log lines) is noted, since it
        // breaks `--json` for scripts.
        var (json, stray) = FindStatusJson(result);
        if (json is null) throw new InvalidOperationException($"`vm status --json` printed no JSON object:\n{result}");
        if (stray.Count > 0) Log($"NOTE: `vm status --json` also printed {stray.Count} non-JSON line(s) on stdout: {stray[0]}");
        try
        {
            return VmStatusView.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"`vm status --json` printed something that is not JSON ({e.Message}):\n{result}");
        }
    }

    /// <summary>
    /// The JSON document in a `vm status --json` output: the lines from "{" to the closing "}" at the
    /// start of a line (null when there is none), and the other non-empty lines of stdout.
    /// </summary>
    protected static (string? Json, IReadOnlyList<string> Stray) FindStatusJson(CliResult result)
    {
        var stdout = result.Stdout.ToList();
        int start = stdout.FindIndex(l => l.StartsWith('{'));
        int end = start < 0 ? -1 : stdout.FindIndex(start, l => l == "}");
        if (start < 0 || end < 0) return (null, []);
        var stray = stdout.Where((_, i) => i < start || i > end).Where(l => l.Length > 0).ToList();
        return (string.Join("\n", stdout.Skip(start).Take(end - start + 1)), stray);
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
            {
                string failure = $"{vm} did not reach '{what}' within {timeout.TotalSeconds} s; last status: {last?.Json ?? "(none)"}";
                NoteFailure(failure);
                throw new Xunit.Sdk.XunitException(failure);
            }
            await Task.Delay(300, Cancel);
        }
    }

    /// <summary>Creates a kv VM through the contacts and waits until it is Protected.</summary>
    public async Task<VmStatusView> CreateKv(string vm)
    {
        var created = await Cli(["vm", "create", vm, "--image", Program.KvImage, "--contact", Contact]);
        Assert.True(created.ExitCode == 0, $"vm create {vm} failed: {created}");
        return await WaitForStatus(vm, s => s.State == "Protected" && s.Primary is not null && s.Secondary is not null,
            TimeSpan.FromSeconds(40), "Protected");
    }

    /// <summary>Starts `vm send` with its stdin open, for the test to feed, talking only to <paramref name="through"/> (default: the contacts).</summary>
    public ChildProcess StartSend(string vm, uint peer, IEnumerable<NodeProcess>? through = null)
    {
        var args = new List<string>
        {
            "vm", "send", vm, "--peer", peer.ToString(CultureInfo.InvariantCulture),
            "--retry-ms", "300", "--timeout", "60", "--contact", ContactOf(through ?? Contacts),
        };
        return StartClient(args, $"vm send {vm} --peer {peer}", $"send-{vm}-{peer}");
    }

    /// <summary>Starts a CLI command with its stdin open, for the test to feed; killed with the cluster. <paramref name="logName"/> names its output file.</summary>
    public ChildProcess StartClient(IReadOnlyList<string> args, string description, string logName)
    {
        var process = ChildProcess.Start(ClientStartInfo(args), description, Path.Combine(Folder, $"{logName}-{_clients.Count}.out"));
        _clients.Add(process);
        return process;
    }

    /// <summary>Fails clearly when something already listens on <paramref name="port"/>.</summary>
    public static void EnsurePortFree(int port)
    {
        if (!FreePorts.IsFree(port))
            throw new InvalidOperationException($"port {port} is already in use; these tests need ports {port} and up free");
    }

    /// <summary>Call last in a test: the folder may go.</summary>
    public void Passed() => _passed = true;

    /// <summary>Runs after every process is killed.</summary>
    protected virtual void AfterProcessesEnded()
    {
    }

    public ValueTask DisposeAsync()
    {
        // Cleanup must neither throw (it would hide the test's own failure) nor leave a process behind.
        var clients = _clients.Select(Report).OfType<string>().ToList();
        foreach (var client in _clients) client.Dispose();
        var nodes = Nodes;
        var ends = nodes.Select(n => (n.KilledOnPurpose ? "killed by the test, " : n.Left ? "told to leave by the test, " : "")
            + (n.HasExited ? $"had exited with {n.Process.ExitCode}" : "was still running")).ToList();
        bool keep = !_passed || Environment.GetEnvironmentVariable("LOCKSTEP_TESTS_KEEP") == "1";
        _nodes.KeepFolder = keep;
        _nodes.Dispose();
        AfterProcessesEnded();
        if (keep)
        {
            Output.WriteLine($"test failed or LOCKSTEP_TESTS_KEEP=1; its folder (node logs, journal) is kept: {Folder}");
            for (int i = 0; i < nodes.Count; i++) Output.WriteLine($"{nodes[i]}: {ends[i]}");
            foreach (var node in nodes) Output.WriteLine($"===== {node} log, last lines =====\n{Tail(node.Output, 60)}");
            // Last, so that a CI log cut to its end still shows what the clients were told.
            foreach (string client in clients) Output.WriteLine(client);
            lock (_failures)
                foreach (string failure in _failures) Output.WriteLine($"===== failure seen =====\n{failure}");
        }
        _limit.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>What a client that complained or failed was told; null for one that had nothing to say.</summary>
    private static string? Report(ChildProcess client)
    {
        try
        {
            int? exit = client.HasExited ? client.ExitCode : null;
            if (client.StderrLines.Count == 0 && exit is null or 0) return null;
            return $"===== client {client.Description} ({(exit is { } code ? $"exit {code}" : "still running")}, "
                + $"{client.StdoutLines.Count} lines out), stderr, last lines =====\n{string.Join("\n", client.StderrLines.TakeLast(15))}";
        }
        catch (InvalidOperationException)
        {
            return null; // never started
        }
    }

    public static string Tail(string text, int lines)
    {
        var all = text.Split('\n');
        return string.Join("\n", all.Skip(Math.Max(0, all.Length - lines)));
    }
}
