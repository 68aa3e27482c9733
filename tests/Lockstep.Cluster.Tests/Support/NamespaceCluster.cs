using System.Diagnostics;
using System.Text.Json;
using Lockstep.Harness;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A <see cref="TestCluster"/> whose nodes run each in its own network namespace of a
/// <see cref="NetworkLab"/> (node i at <see cref="NetworkLab.Address"/>(i)), sharing one SQLite journal file
/// in the test's folder. The CLI runs in the root namespace, bound to the bridge's address (a copy of
/// hocon/client.conf with another hostname, chosen through LOCKSTEP_HOCON), so the nodes can answer it
/// over the bridge. Disposing it kills every process, then removes the namespaces.
/// </summary>
public sealed class NamespaceCluster : TestCluster
{
    private const string ClientConfigName = "client.conf";

    private readonly string _clientHocon;
    private NetworkLab? _lab;

    public NamespaceCluster(ProgramFixture program, ITestOutputHelper output, string testName, int basePort)
        : base(program, output, testName, basePort)
    {
        _clientHocon = Path.Combine(Folder, "client-hocon");
        WriteClientConfig();
    }

    public string DatabasePath => Path.Combine(Folder, "lockstep.db");

    /// <summary>The nodes keep their claims in a file of their own beside the journal.</summary>
    public string ClaimsPath => Path.Combine(Folder, "lockstep.claims.db");

    public NetworkLab Lab => _lab ?? throw new InvalidOperationException("StartNodes first");

    /// <summary>Builds the namespaces; node i listens at the address of namespace i.</summary>
    protected override IReadOnlyList<(string Host, int Port)> PrepareNodes(int count)
    {
        _lab = NetworkLab.Create(count, Log);
        return Enumerable.Range(0, count).Select(i => (NetworkLab.Address(i), BasePort + i)).ToList();
    }

    /// <summary>`ip netns exec NS dotnet ...`: ip execs dotnet in place, so the process id stays the node's.</summary>
    protected override ProcessStartInfo WrapNode(int index, ProcessStartInfo info)
    {
        string[] prefix = ["netns", "exec", NetworkLab.Namespace(index), info.FileName];
        for (int k = prefix.Length - 1; k >= 0; k--) info.ArgumentList.Insert(0, prefix[k]);
        info.FileName = "ip";
        return info;
    }

    public void CutOff(NodeProcess node)
    {
        Lab.Cut(node.Index);
        node.IsContact = false;
    }

    public void Reconnect(NodeProcess node)
    {
        Lab.Heal(node.Index);
        node.IsContact = true;
    }

    /// <summary>The CLI's start description: the program in the root namespace with the bridge-bound client configuration.</summary>
    protected override ProcessStartInfo ClientStartInfo(IEnumerable<string> args)
    {
        var info = base.ClientStartInfo(args);
        info.Environment["LOCKSTEP_HOCON"] = _clientHocon;
        return info;
    }

    /// <summary>`vm status NAME --json` through <paramref name="through"/> (default: the connected nodes); null when it failed or took too long (10 s unless told).</summary>
    public override async Task<VmStatusView?> Status(string vm, IEnumerable<NodeProcess>? through = null, TimeSpan? timeout = null)
    {
        var result = await TryCli(["vm", "status", vm, "--json", "--contact", ContactOf(through ?? Contacts)], null,
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

    private void WriteClientConfig()
    {
        string source = Path.Combine(RepoRoot.Hocon, ClientConfigName);
        string text = File.ReadAllText(source);
        const string loopback = "hostname = 127.0.0.1";
        if (!text.Contains(loopback, StringComparison.Ordinal))
            throw new InvalidOperationException($"{source} no longer says '{loopback}'; the partition tests rebind the client through it");
        Directory.CreateDirectory(_clientHocon);
        File.WriteAllText(Path.Combine(_clientHocon, ClientConfigName),
            text.Replace(loopback, $"hostname = {NetworkLab.BridgeAddress}", StringComparison.Ordinal));
    }
}
