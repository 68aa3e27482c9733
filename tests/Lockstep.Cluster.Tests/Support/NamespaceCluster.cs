using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Lockstep.Cluster.Tests;

/// <summary>One node process running inside network namespace <see cref="NetworkLab.Namespace"/>(Index).</summary>
public sealed class NamespaceNode(int index, int port, ChildProcess process, string logPath)
{
    public int Index { get; } = index;
    public int Port { get; } = port;
    public string Host => NetworkLab.Address(Index);
    public ChildProcess Process { get; } = process;
    public string LogPath { get; } = logPath;

    /// <summary>How `vm status` and the claims name this node.</summary>
    public string Endpoint => $"{Host}:{Port}";

    /// <summary>False while the test keeps it cut off the network.</summary>
    public bool Connected { get; set; } = true;

    public override string ToString() => $"node {Endpoint} in {NetworkLab.Namespace(Index)} (pid {Process.Id})";
}

/// <summary>
/// A cluster of `lockstep node` processes, each in its own network namespace of a
/// <see cref="NetworkLab"/>, sharing one SQLite journal file in the test's folder. The CLI runs in
/// the root namespace, bound to the bridge's address (a copy of hocon/client.conf with another
/// hostname, chosen through LOCKSTEP_HOCON), so the nodes can answer it over the bridge.
/// Disposing it kills every process, then removes the namespaces.
/// </summary>
public sealed class NamespaceCluster : IAsyncDisposable
{
    private static readonly TimeSpan TestLimit = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan CliTimeout = TimeSpan.FromSeconds(60);

    private readonly LockstepProgram _program;
    private readonly ITestOutputHelper _output;
    private readonly List<NamespaceNode> _nodes = [];
    private readonly List<ChildProcess> _clients = [];
    private readonly CancellationTokenSource _limit = new(TestLimit);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly string _clientHocon;
    private NetworkLab? _lab;
    private bool _passed;

    public NamespaceCluster(LockstepProgram program, ITestOutputHelper output, string testName, int basePort)
    {
        _program = program;
        _output = output;
        BasePort = basePort;
        Folder = Path.Combine(TestPaths.Root, $"{testName}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(Folder);
        DatabasePath = Path.Combine(Folder, "lockstep.db");
        _clientHocon = Path.Combine(Folder, "client-hocon");
        WriteClientConfig();
    }

    public int BasePort { get; }
    public string Folder { get; }
    public string DatabasePath { get; }
    public IReadOnlyList<NamespaceNode> Nodes => _nodes;
    public IEnumerable<NamespaceNode> ConnectedNodes => _nodes.Where(n => n.Connected);
    public NetworkLab Lab => _lab ?? throw new InvalidOperationException("StartNodes first");
    public CancellationToken Cancel => _limit.Token;

    public static string ContactOf(IEnumerable<NamespaceNode> nodes) => string.Join(",", nodes.Select(n => n.Endpoint));

    public void Log(string message) =>
        _output.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:F1}s {DateTime.UtcNow:HH:mm:ss.fff}Z] {message}");

    public NamespaceNode NodeAt(string? endpoint) =>
        _nodes.SingleOrDefault(n => n.Endpoint == endpoint)
        ?? throw new InvalidOperationException($"'{endpoint}' is not one of this test's nodes ({ContactOf(_nodes)})");

    /// <summary>Builds the namespaces and starts one node in each (the first is the seed); waits until all are Up.</summary>
    public async Task StartNodes(int count = 3)
    {
        _lab = NetworkLab.Create(count, Log);
        string seed = $"{NetworkLab.Address(0)}:{BasePort}";
        for (int i = 0; i < count; i++)
        {
            int port = BasePort + i;
            string logPath = Path.Combine(Folder, $"node{i}-{NetworkLab.Address(i)}-{port}.log");
            var info = _program.StartInfo(Folder,
                ["node", "--host", NetworkLab.Address(i), "--port", port.ToString(CultureInfo.InvariantCulture),
                    "--seeds", seed, "--journal", $"sqlite:{DatabasePath}"]);
            // `ip netns exec NS dotnet ...`: ip execs dotnet in place, so the process id stays the node's.
            string[] prefix = ["netns", "exec", NetworkLab.Namespace(i), info.FileName];
            for (int k = prefix.Length - 1; k >= 0; k--) info.ArgumentList.Insert(0, prefix[k]);
            info.FileName = "ip";
            var process = ChildProcess.Start(info, $"node {NetworkLab.Address(i)}:{port}", logPath);
            var node = new NamespaceNode(i, port, process, logPath);
            _nodes.Add(node);
            Log($"started {node}");
            if (i == 0)
            {
                bool up = await process.WaitForOutput(p => p.AllOutput.Contains(UpLine(node), StringComparison.Ordinal),
                    TimeSpan.FromSeconds(60), Cancel);
                if (!up) throw new InvalidOperationException($"the seed {node} did not come up:\n{TestCluster.Tail(process.AllOutput, 40)}");
            }
        }
        var first = _nodes[0].Process;
        bool allUp = await first.WaitForOutput(p => _nodes.All(n => p.AllOutput.Contains(UpLine(n), StringComparison.Ordinal)),
            TimeSpan.FromSeconds(60), Cancel);
        if (!allUp)
            throw new InvalidOperationException($"not all {count} nodes became Up within 60 s; seed log:\n{TestCluster.Tail(first.AllOutput, 40)}");
        Log($"all {count} nodes are Up");
    }

    private static string UpLine(NamespaceNode node) => $"Leader is moving node [akka.tcp://lockstep@{node.Endpoint}] to [Up]";

    public void CutOff(NamespaceNode node)
    {
        Lab.Cut(node.Index);
        node.Connected = false;
    }

    public void Reconnect(NamespaceNode node)
    {
        Lab.Heal(node.Index);
        node.Connected = true;
    }

    /// <summary>The CLI's start description: the program in the root namespace with the bridge-bound client configuration.</summary>
    private ProcessStartInfo ClientInfo(IEnumerable<string> args)
    {
        var info = _program.StartInfo(Folder, args);
        info.Environment["LOCKSTEP_HOCON"] = _clientHocon;
        return info;
    }

    /// <summary>Runs one CLI command to its end; on <paramref name="timeout"/> it is killed and null is returned.</summary>
    public async Task<CliResult?> TryCli(IEnumerable<string> args, string? stdin, TimeSpan timeout)
    {
        var argList = args.ToList();
        using var process = ChildProcess.Start(ClientInfo(argList), $"lockstep {string.Join(' ', argList)}");
        try
        {
            if (stdin is not null) await process.Stdin.WriteAsync(stdin);
            process.Stdin.Close();
        }
        catch (IOException)
        {
        }
        if (!await process.WaitForExit(timeout, Cancel))
        {
            process.Kill();
            return null;
        }
        return new CliResult(process.ExitCode, process.StdoutLines, process.StderrLines);
    }

    public async Task<CliResult> Cli(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        var argList = args.ToList();
        var limit = timeout ?? CliTimeout;
        return await TryCli(argList, stdin, limit)
            ?? throw new TimeoutException($"`lockstep {string.Join(' ', argList)}` did not end within {limit.TotalSeconds} s");
    }

    /// <summary>`vm status NAME --json` through <paramref name="through"/> (default: the connected nodes); null when it failed or took too long.</summary>
    public async Task<VmStatusView?> Status(string vm, IEnumerable<NamespaceNode>? through = null, TimeSpan? timeout = null)
    {
        var result = await TryCli(["vm", "status", vm, "--json", "--contact", ContactOf(through ?? ConnectedNodes)], null,
            timeout ?? TimeSpan.FromSeconds(10));
        if (result is null || result.ExitCode != 0) return null;
        int start = result.Stdout.ToList().FindIndex(l => l.StartsWith('{'));
        int end = start < 0 ? -1 : result.Stdout.ToList().FindIndex(start, l => l == "}");
        if (start < 0 || end < 0) return null;
        try
        {
            return VmStatusView.Parse(string.Join("\n", result.Stdout.Skip(start).Take(end - start + 1)));
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async Task<VmStatusView> WaitForStatus(string vm, Func<VmStatusView, bool> wanted, TimeSpan timeout, string what,
        IEnumerable<NamespaceNode>? through = null)
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

    public async Task<VmStatusView> CreateKv(string vm)
    {
        var created = await Cli(["vm", "create", vm, "--image", _program.KvImage, "--contact", ContactOf(ConnectedNodes)]);
        Assert.True(created.ExitCode == 0, $"vm create {vm} failed: {created}");
        return await WaitForStatus(vm, s => s.State == "Protected" && s.Primary is not null && s.Secondary is not null,
            TimeSpan.FromSeconds(40), "Protected");
    }

    /// <summary>Starts `vm send` with its stdin open, talking only to <paramref name="through"/>.</summary>
    public ChildProcess StartSend(string vm, uint peer, IEnumerable<NamespaceNode> through)
    {
        var args = new List<string>
        {
            "vm", "send", vm, "--peer", peer.ToString(CultureInfo.InvariantCulture), "--retry-ms", "300", "--timeout", "60",
            "--contact", ContactOf(through),
        };
        var process = ChildProcess.Start(ClientInfo(args), $"vm send {vm} --peer {peer}",
            Path.Combine(Folder, $"send-{vm}-{peer}-{_clients.Count}.out"));
        _clients.Add(process);
        return process;
    }

    /// <summary>A node's log as written so far.</summary>
    public static async Task<string> ReadLog(NamespaceNode node)
    {
        await using var stream = new FileStream(node.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    public void Passed() => _passed = true;

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients) client.Dispose();
        var notes = new List<string>();
        foreach (var node in _nodes)
        {
            notes.Add($"{node}: {(node.Process.HasExited ? $"had exited with {node.Process.ExitCode}" : "was still running")}");
            node.Process.Dispose();
        }
        try
        {
            _lab?.Dispose();
        }
        catch (Exception e)
        {
            _output.WriteLine($"removing the network lab failed: {e.Message}");
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
            _output.WriteLine($"test failed or LOCKSTEP_TESTS_KEEP=1; its folder (node logs, journal) is kept: {Folder}");
            foreach (string note in notes) _output.WriteLine(note);
            foreach (var node in _nodes)
            {
                try
                {
                    string text = File.Exists(node.LogPath) ? await ReadLog(node) : "(no log)";
                    _output.WriteLine($"===== {node} log, last lines =====\n{TestCluster.Tail(text, 60)}");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    _output.WriteLine($"cannot read {node.LogPath}: {e.Message}");
                }
            }
        }
        _limit.Dispose();
    }

    private void WriteClientConfig()
    {
        string source = Path.Combine(_program.HoconFolder, ClientConfigName);
        string text = File.ReadAllText(source);
        const string loopback = "hostname = 127.0.0.1";
        if (!text.Contains(loopback, StringComparison.Ordinal))
            throw new InvalidOperationException($"{source} no longer says '{loopback}'; the partition tests rebind the client through it");
        Directory.CreateDirectory(_clientHocon);
        File.WriteAllText(Path.Combine(_clientHocon, ClientConfigName),
            text.Replace(loopback, $"hostname = {NetworkLab.BridgeAddress}", StringComparison.Ordinal));
    }

    private const string ClientConfigName = "client.conf";
}
