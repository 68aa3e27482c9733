using System.Diagnostics;
using System.Globalization;

namespace Lockstep.Harness;

/// <summary>
/// Real `lockstep node` processes sharing one journal, run from one folder (their working directory and
/// their logs): started seed first, each watched until the seed's log shows it Up; killed (SIGKILL),
/// frozen (SIGSTOP) and resumed, or told to leave (SIGTERM), on request. Disposing it kills every node and, unless
/// <see cref="KeepFolder"/>, removes the folder; that is safe from any thread, any number of times, since
/// a signal handler and the normal ending may race to do it.
/// </summary>
public sealed class NodeCluster : IDisposable
{
    private const string Labels = "ABCDEFGH";
    private const int RemoveAttempts = 5;

    private readonly LockstepProgram _program;
    private readonly Action<string> _log;
    private readonly Func<int, ProcessStartInfo, ProcessStartInfo>? _wrap;
    private readonly List<NodeProcess> _nodes = [];
    private readonly Lock _lock = new();
    private bool _disposed;
    private readonly bool _warmSerializers;
    // What `lockstep node` reads as HOCON over its node.conf (the Host's NodeCommand.NodeHoconVariable).
    private const string NodeHoconVariable = "LOCKSTEP_NODE_HOCON";

    /// <param name="program">The build the nodes run.</param>
    /// <param name="folder">An existing folder for the nodes' working directory and logs.</param>
    /// <param name="journal">The nodes' --journal: sqlite:PATH or postgres:CONNECTION.</param>
    /// <param name="log">Told what happens: nodes started, Up, ending on their own.</param>
    /// <param name="wrap">Changes how node i is started, e.g. inside a network namespace; null: as it is.</param>
    /// <param name="warmSerializers">Whether the nodes build their serializers at start (`lockstep.serializer-warmup`): seconds of
    /// CPU per node, worth it before a fault is timed (the demo), not in tests that start clusters by the dozen and time nothing.</param>
    public NodeCluster(LockstepProgram program, string folder, string journal, Action<string> log,
        Func<int, ProcessStartInfo, ProcessStartInfo>? wrap = null, bool warmSerializers = false)
    {
        _warmSerializers = warmSerializers;
        _program = program;
        Folder = folder;
        Journal = journal;
        _log = log;
        _wrap = wrap;
    }

    public string Folder { get; }

    public string Journal { get; }

    /// <summary>Leave the folder (logs, journal) in place on <see cref="Dispose"/>.</summary>
    public bool KeepFolder { get; set; }

    /// <summary>The nodes started so far, in order.</summary>
    public IReadOnlyList<NodeProcess> Nodes
    {
        get
        {
            lock (_lock) return _nodes.ToList();
        }
    }

    /// <summary>The nodes clients may be pointed at (<see cref="NodeProcess.IsContact"/>).</summary>
    public IReadOnlyList<NodeProcess> Contacts => Nodes.Where(n => n.IsContact).ToList();

    /// <summary>"host:port,..." for --contact or ClusterClient; any live one serves.</summary>
    public static string ContactOf(IEnumerable<NodeProcess> nodes) => string.Join(",", nodes.Select(n => n.Endpoint));

    /// <summary>
    /// Starts a node at each of <paramref name="places"/>, the first the seed the others join through: the seed
    /// alone first, until it is Up, then the rest, until the seed's log shows every one Up.
    /// </summary>
    /// <exception cref="ClusterStartException">A node ended, or not every node was Up within <paramref name="upWithin"/> (each wait).</exception>
    public async Task StartAsync(IReadOnlyList<(string Host, int Port)> places, TimeSpan upWithin, CancellationToken cancel)
    {
        if (places.Count is 0 or > 8) throw new ArgumentOutOfRangeException(nameof(places), "from 1 to 8 nodes");
        string seed = $"{places[0].Host}:{places[0].Port}";
        var first = StartNode(places[0].Host, places[0].Port, seed);
        // The others join through the seed, so it forms the cluster first.
        await WaitForUp([first], first, upWithin, cancel);
        var all = new List<NodeProcess> { first };
        foreach (var (host, port) in places.Skip(1)) all.Add(StartNode(host, port, seed));
        await WaitForUp(all, first, upWithin, cancel);
        _log($"all {all.Count} nodes are Up");
    }

    public NodeProcess? Find(string? endpoint) => endpoint is null ? null : Nodes.FirstOrDefault(n => n.Endpoint == endpoint);

    /// <summary>"B (127.0.0.1:4901)", or the endpoint alone when it is not one of these nodes, or "-".</summary>
    public string Describe(string? endpoint) =>
        endpoint is null ? "-" : Find(endpoint) is { } node ? $"{node.Label} ({endpoint})" : endpoint;

    /// <summary>SIGKILL, no goodbye: to the cluster the node simply vanishes.</summary>
    public void Kill(NodeProcess node)
    {
        node.KilledOnPurpose = true;
        node.IsContact = false;
        node.Process.Kill();
    }

    /// <summary>SIGTERM: the node leaves the cluster gracefully (its coordinated shutdown) and exits.</summary>
    public void Leave(NodeProcess node)
    {
        node.Left = true;
        node.IsContact = false;
        node.Process.Signal("TERM");
    }

    /// <summary>SIGSTOP: the process is frozen with its sockets open, as a node that hangs.</summary>
    public void Pause(NodeProcess node)
    {
        node.Process.Signal("STOP");
        node.Paused = true;
        node.IsContact = false;
    }

    /// <summary>SIGCONT. The node stays out of <see cref="Contacts"/> (see <see cref="NodeProcess.IsContact"/>).</summary>
    public void Resume(NodeProcess node)
    {
        node.Process.Signal("CONT");
        node.Paused = false;
    }

    public void Dispose()
    {
        // A second caller (the normal ending racing a signal handler) waits until the first has finished,
        // so that the process cannot exit while the folder is still being removed.
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            // All killed first, then waited for: one at a time would add up their exits.
            foreach (var node in _nodes)
            {
                node.KilledOnPurpose = true;
                node.Process.Kill(); // SIGKILL ends a stopped (SIGSTOP) process as well
            }
            foreach (var node in _nodes) node.Process.Dispose();
            if (!KeepFolder) RemoveFolder();
        }
    }

    private NodeProcess StartNode(string host, int port, string seed)
    {
        NodeProcess node;
        lock (_lock)
        {
            // Disposed by a signal handler while starting: no node may be started after the cleanup.
            if (_disposed) throw new OperationCanceledException("the cluster was stopped while it started");
            int index = _nodes.Count;
            string label = Labels[index].ToString();
            string portText = port.ToString(CultureInfo.InvariantCulture);
            var info = _program.StartInfo(Folder, ["node", "--host", host, "--port", portText, "--seeds", seed, "--journal", Journal]);
            if (!_warmSerializers) info.Environment[NodeHoconVariable] = "lockstep.serializer-warmup = off";
            if (_wrap is not null) info = _wrap(index, info);
            string logPath = Path.Combine(Folder, $"node-{label}-{portText}.log");
            var process = ChildProcess.Start(info, $"node {label} {host}:{portText}", logPath);
            node = new NodeProcess(index, label, host, port, process, logPath);
            _nodes.Add(node);
        }
        _log($"started node {node.Label} on {node.Endpoint} (pid {node.Process.Id})");
        _ = node.Process.Exited.ContinueWith(exit => ReportExit(node, exit.Result), TaskScheduler.Default);
        return node;
    }

    private void ReportExit(NodeProcess node, int status)
    {
        lock (_lock)
        {
            if (_disposed || node.KilledOnPurpose || node.Left) return;
        }
        _log($"node {node.Label} ({node.Endpoint}) exited on its own with status {status}; see {node.LogPath}");
    }

    /// <summary>Waits until <paramref name="leader"/>'s log shows every one of <paramref name="nodes"/> moved to Up.</summary>
    private async Task WaitForUp(IReadOnlyList<NodeProcess> nodes, NodeProcess leader, TimeSpan within, CancellationToken cancel)
    {
        bool up = await leader.Process.WaitForOutput(p =>
        {
            string output = p.AllOutput;
            return nodes.All(n => IsUp(output, n));
        }, within, cancel);
        if (up) return;
        cancel.ThrowIfCancellationRequested();
        lock (_lock)
        {
            if (_disposed) throw new OperationCanceledException("the cluster was stopped while it started");
        }
        if (nodes.FirstOrDefault(n => n.HasExited) is { } ended)
            throw new ClusterStartException($"node {ended.Label} ({ended.Endpoint}) exited with status {ended.Process.ExitCode} before the cluster was Up; see {ended.LogPath}");
        string output = leader.Output;
        var missing = nodes.Where(n => !IsUp(output, n)).Select(n => $"{n.Label} ({n.Endpoint})");
        throw new ClusterStartException(
            $"not Up within {within.TotalSeconds:0} s, as the seed's log tells: {string.Join(", ", missing)}; see {leader.LogPath}");
    }

    /// <summary>Whether the leader's log (the seed, until it goes) shows the node moved to Up, over plain TCP or TLS.</summary>
    public static bool IsUp(string leaderOutput, NodeProcess node) => IsUp(leaderOutput, node.Endpoint);

    public static bool IsUp(string leaderOutput, string endpoint) =>
        leaderOutput.Contains($"Leader is moving node [akka.tcp://lockstep@{endpoint}] to [Up]", StringComparison.Ordinal)
        || leaderOutput.Contains($"Leader is moving node [akka.ssl.tcp://lockstep@{endpoint}] to [Up]", StringComparison.Ordinal);

    private void RemoveFolder()
    {
        // A node that was just killed may still be closing its files; a few tries cover that.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (attempt == RemoveAttempts)
                {
                    _log($"could not remove {Folder}: {e.Message}");
                    return;
                }
                Thread.Sleep(200);
            }
        }
    }
}
