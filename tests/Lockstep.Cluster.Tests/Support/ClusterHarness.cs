using System.Diagnostics;
using System.Text.Json;

namespace Lockstep.Cluster.Tests;

/// <summary>One `lockstep node` process of a test, whatever network it runs in.</summary>
public abstract class ClusterNode(int port, ChildProcess process, string logPath)
{
    public int Port { get; } = port;
    public ChildProcess Process { get; } = process;
    public string LogPath { get; } = logPath;

    /// <summary>How `vm status`, the claims and --contact name this node.</summary>
    public abstract string Endpoint { get; }

    /// <summary>How the process stood when the test ended.</summary>
    public string ExitNote { get; set; } = "";
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
/// What every cluster of a test shares: its temporary folder, its time limit and log, waiting for
/// the nodes to be Up, running the CLI, polling `vm status`, and the cleanup (kill every process it
/// started; remove the folder when the test passed unless LOCKSTEP_TESTS_KEEP=1, else keep it and
/// show the node logs). How the nodes are started and reached is the subclass's.
/// </summary>
public abstract class ClusterHarness<TNode> : IAsyncDisposable where TNode : ClusterNode
{
    /// <summary>No test may run longer than this, whatever it waits for.</summary>
    private static readonly TimeSpan TestLimit = TimeSpan.FromMinutes(3);

    protected static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(60);

    private readonly List<TNode> _nodes = [];
    private readonly List<ChildProcess> _clients = [];
    private readonly CancellationTokenSource _limit = new(TestLimit);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private bool _passed;

    protected ClusterHarness(LockstepProgram program, ITestOutputHelper output, string testName, int basePort)
    {
        Program = program;
        Output = output;
        BasePort = basePort;
        Folder = Path.Combine(TestPaths.Root, $"{testName}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(Folder);
    }

    protected LockstepProgram Program { get; }
    protected ITestOutputHelper Output { get; }
    public int BasePort { get; }
    public string Folder { get; }
    public IReadOnlyList<TNode> Nodes => _nodes;

    /// <summary>Cancelled when the test has run for too long.</summary>
    public CancellationToken Cancel => _limit.Token;

    /// <summary>The nodes the CLI talks to when the test names none.</summary>
    protected abstract IEnumerable<TNode> DefaultNodes { get; }

    public static string ContactOf(IEnumerable<TNode> nodes) => string.Join(",", nodes.Select(n => n.Endpoint));

    public void Log(string message) =>
        Output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s {DateTime.UtcNow:HH:mm:ss.fff}Z] {message}");

    public TNode NodeAt(string? endpoint) =>
        _nodes.SingleOrDefault(n => n.Endpoint == endpoint)
        ?? throw new InvalidOperationException($"'{endpoint}' is not one of this test's nodes ({ContactOf(_nodes)})");

    protected void AddNode(TNode node) => _nodes.Add(node);

    /// <summary>Waits until the seed's own log shows it Up; <paramref name="name"/> names it in the failure.</summary>
    protected async Task WaitForSeedUp(TNode seed, string name)
    {
        bool up = await seed.Process.WaitForOutput(p => p.AllOutput.Contains(UpLine(seed), StringComparison.Ordinal),
            TimeSpan.FromSeconds(60), Cancel);
        if (!up) throw new InvalidOperationException($"the seed {name} did not come up:\n{Tail(seed.Process.AllOutput, 40)}");
    }

    /// <summary>Waits until the first node's log shows every node Up.</summary>
    protected async Task WaitForAllUp(int count)
    {
        var seed = _nodes[0].Process;
        bool allUp = await seed.WaitForOutput(p => _nodes.All(n => p.AllOutput.Contains(UpLine(n), StringComparison.Ordinal)),
            TimeSpan.FromSeconds(60), Cancel);
        if (!allUp)
            throw new InvalidOperationException($"not all {count} nodes became Up within 60 s; seed log:\n{Tail(seed.AllOutput, 40)}");
        Log($"all {count} nodes are Up");
    }

    /// <summary>The line the leader logs when it moves a node to Up.</summary>
    private static string UpLine(TNode node) => $"Leader is moving node [akka.tcp://lockstep@{node.Endpoint}] to [Up]";

    /// <summary>How a CLI process is started.</summary>
    protected virtual ProcessStartInfo ClientStartInfo(IEnumerable<string> args) => Program.StartInfo(Folder, args);

    /// <summary>
    /// Runs one CLI command to its end, feeding it <paramref name="stdin"/> if given. On
    /// <paramref name="timeout"/> it is killed, and then null is returned or, with
    /// <paramref name="throwOnTimeout"/>, a <see cref="TimeoutException"/> with its output so far thrown.
    /// </summary>
    protected async Task<CliResult?> RunCli(IEnumerable<string> args, string? stdin, TimeSpan timeout, bool throwOnTimeout)
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

    /// <summary>One status query for <see cref="WaitForStatus"/>; null when it gave none.</summary>
    protected abstract Task<VmStatusView?> PollStatus(string vm, IEnumerable<TNode>? through);

    /// <summary>Polls the status until <paramref name="wanted"/> holds; fails with the last status seen when it does not in time.</summary>
    public async Task<VmStatusView> WaitForStatus(string vm, Func<VmStatusView, bool> wanted, TimeSpan timeout, string what,
        IEnumerable<TNode>? through = null)
    {
        var clock = Stopwatch.StartNew();
        VmStatusView? last = null;
        while (true)
        {
            last = await PollStatus(vm, through?.ToList()) ?? last;
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

    /// <summary>Creates a kv VM through the default nodes and waits until it is Protected.</summary>
    public async Task<VmStatusView> CreateKv(string vm)
    {
        var created = await RunCli(["vm", "create", vm, "--image", Program.KvImage, "--contact", ContactOf(DefaultNodes)],
            null, CliTimeout, throwOnTimeout: true);
        Assert.True(created!.ExitCode == 0, $"vm create {vm} failed: {created}");
        return await WaitForStatus(vm, s => s.State == "Protected" && s.Primary is not null && s.Secondary is not null,
            TimeSpan.FromSeconds(40), "Protected");
    }

    /// <summary>Starts `vm send` with its stdin open, talking only to <paramref name="through"/>.</summary>
    protected ChildProcess StartSendThrough(string vm, uint peer, IEnumerable<TNode> through)
    {
        var args = new List<string>
        {
            "vm", "send", vm, "--peer", peer.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--retry-ms", "300", "--timeout", "60", "--contact", ContactOf(through),
        };
        var process = ChildProcess.Start(ClientStartInfo(args), $"vm send {vm} --peer {peer}",
            Path.Combine(Folder, $"send-{vm}-{peer}-{_clients.Count}.out"));
        _clients.Add(process);
        return process;
    }

    /// <summary>Call last in a test: the folder may go.</summary>
    public void Passed() => _passed = true;

    /// <summary>Runs after every process is killed, before the folder is removed or its logs shown.</summary>
    protected virtual void AfterProcessesEnded()
    {
    }

    /// <summary>The line that says the folder is kept.</summary>
    protected virtual string KeptNote => $"test failed; its folder (node logs, journal) is kept: {Folder}";

    /// <summary>How a node stood when the test ended, shown when the folder is kept.</summary>
    protected virtual string EndNote(TNode node) => $"{node}: {node.ExitNote}";

    protected virtual Task<string> ReadNodeLog(TNode node) => File.ReadAllTextAsync(node.LogPath);

    public async ValueTask DisposeAsync()
    {
        // Cleanup must neither throw (it would hide the test's own failure) nor leave a process behind.
        foreach (var client in _clients) client.Dispose();
        foreach (var node in _nodes)
        {
            node.ExitNote = node.Process.HasExited ? $"had exited with {node.Process.ExitCode}" : "was still running";
            node.Process.Dispose(); // SIGKILL ends a stopped (SIGSTOP) process as well
        }
        AfterProcessesEnded();
        if (_passed && Environment.GetEnvironmentVariable("LOCKSTEP_TESTS_KEEP") != "1")
        {
            try
            {
                Directory.Delete(Folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Output.WriteLine($"could not remove {Folder}: {e.Message}");
            }
        }
        else
        {
            Output.WriteLine(KeptNote);
            foreach (var node in _nodes) Output.WriteLine(EndNote(node));
            foreach (var node in _nodes)
            {
                try
                {
                    string text = File.Exists(node.LogPath) ? await ReadNodeLog(node) : "(no log)";
                    Output.WriteLine($"===== {node} log, last lines =====\n{Tail(text, 60)}");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Output.WriteLine($"cannot read {node.LogPath}: {e.Message}");
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
}
