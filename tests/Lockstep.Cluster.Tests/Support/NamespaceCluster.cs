using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Lockstep.Cluster.Tests;

/// <summary>One node process running inside network namespace <see cref="NetworkLab.Namespace"/>(Index).</summary>
public sealed class NamespaceNode(int index, int port, ChildProcess process, string logPath) : ClusterNode(port, process, logPath)
{
    public int Index { get; } = index;
    public string Host => NetworkLab.Address(Index);

    /// <summary>How `vm status` and the claims name this node.</summary>
    public override string Endpoint => $"{Host}:{Port}";

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
public sealed class NamespaceCluster : ClusterHarness<NamespaceNode>
{
    private readonly string _clientHocon;
    private NetworkLab? _lab;

    public NamespaceCluster(LockstepProgram program, ITestOutputHelper output, string testName, int basePort)
        : base(program, output, testName, basePort)
    {
        DatabasePath = Path.Combine(Folder, "lockstep.db");
        _clientHocon = Path.Combine(Folder, "client-hocon");
        WriteClientConfig();
    }

    public string DatabasePath { get; }

    /// <summary>The nodes keep their claims in a file of their own beside the journal.</summary>
    public string ClaimsPath => Path.Combine(Folder, "lockstep.claims.db");
    public IEnumerable<NamespaceNode> ConnectedNodes => Nodes.Where(n => n.Connected);
    public NetworkLab Lab => _lab ?? throw new InvalidOperationException("StartNodes first");

    protected override IEnumerable<NamespaceNode> DefaultNodes => ConnectedNodes;

    /// <summary>Builds the namespaces and starts one node in each (the first is the seed); waits until all are Up.</summary>
    public async Task StartNodes(int count = 3)
    {
        _lab = NetworkLab.Create(count, Log);
        string seed = $"{NetworkLab.Address(0)}:{BasePort}";
        for (int i = 0; i < count; i++)
        {
            int port = BasePort + i;
            string logPath = Path.Combine(Folder, $"node{i}-{NetworkLab.Address(i)}-{port}.log");
            var info = Program.StartInfo(Folder,
                ["node", "--host", NetworkLab.Address(i), "--port", port.ToString(CultureInfo.InvariantCulture),
                    "--seeds", seed, "--journal", $"sqlite:{DatabasePath}"]);
            // `ip netns exec NS dotnet ...`: ip execs dotnet in place, so the process id stays the node's.
            string[] prefix = ["netns", "exec", NetworkLab.Namespace(i), info.FileName];
            for (int k = prefix.Length - 1; k >= 0; k--) info.ArgumentList.Insert(0, prefix[k]);
            info.FileName = "ip";
            var process = ChildProcess.Start(info, $"node {NetworkLab.Address(i)}:{port}", logPath);
            var node = new NamespaceNode(i, port, process, logPath);
            AddNode(node);
            Log($"started {node}");
            if (i == 0) await WaitForSeedUp(node, $"{node}");
        }
        await WaitForAllUp(count);
    }

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
    protected override ProcessStartInfo ClientStartInfo(IEnumerable<string> args)
    {
        var info = base.ClientStartInfo(args);
        info.Environment["LOCKSTEP_HOCON"] = _clientHocon;
        return info;
    }

    /// <summary>Runs one CLI command to its end; on <paramref name="timeout"/> it is killed and null is returned.</summary>
    public Task<CliResult?> TryCli(IEnumerable<string> args, string? stdin, TimeSpan timeout) =>
        RunCli(args, stdin, timeout, throwOnTimeout: false);

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
        var (json, _) = FindStatusJson(result);
        if (json is null) return null;
        try
        {
            return VmStatusView.Parse(json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    protected override Task<VmStatusView?> PollStatus(string vm, IEnumerable<NamespaceNode>? through) => Status(vm, through);

    /// <summary>Starts `vm send` with its stdin open, talking only to <paramref name="through"/>.</summary>
    public ChildProcess StartSend(string vm, uint peer, IEnumerable<NamespaceNode> through) => StartSendThrough(vm, peer, through);

    /// <summary>A node's log as written so far.</summary>
    public static async Task<string> ReadLog(NamespaceNode node)
    {
        await using var stream = new FileStream(node.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    protected override Task<string> ReadNodeLog(NamespaceNode node) => ReadLog(node);

    protected override void AfterProcessesEnded()
    {
        try
        {
            _lab?.Dispose();
        }
        catch (Exception e)
        {
            Output.WriteLine($"removing the network lab failed: {e.Message}");
        }
    }

    protected override string KeptNote => $"test failed or LOCKSTEP_TESTS_KEEP=1; its folder (node logs, journal) is kept: {Folder}";

    private void WriteClientConfig()
    {
        string source = Path.Combine(Program.HoconFolder, ClientConfigName);
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
