using System.Diagnostics;

namespace Lockstep.Harness.Tests;

/// <summary>
/// How a <see cref="NodeCluster"/> fails to start, without a real build: the "nodes" are a file dotnet cannot
/// run, or a sleep that never logs Up. What a real cluster does is the cluster and demo tests' part.
/// </summary>
public sealed class NodeClusterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lockstep-nodecluster-").FullName;
    private readonly List<string> _log = [];

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private NodeCluster Cluster(string folder, Func<int, ProcessStartInfo, ProcessStartInfo>? wrap = null)
    {
        string dll = Path.Combine(_dir, "not-a-program.dll");
        File.WriteAllText(dll, "not an assembly");
        return new NodeCluster(new LockstepProgram(dll, hoconFolder: null), folder, "sqlite:unused.db", line => { lock (_log) _log.Add(line); }, wrap);
    }

    private string NewFolder(string name) => Directory.CreateDirectory(Path.Combine(_dir, name)).FullName;

    [Fact]
    public async Task A_node_that_ends_before_it_is_Up_fails_the_start_and_names_its_log()
    {
        string folder = NewFolder("ends");
        using var cluster = Cluster(folder);
        var error = await Assert.ThrowsAsync<ClusterStartException>(() =>
            cluster.StartAsync([("127.0.0.1", 1), ("127.0.0.1", 2)], TimeSpan.FromSeconds(60), CancellationToken.None));
        var seed = Assert.Single(cluster.Nodes); // the others wait for the seed
        Assert.Contains("exited with status", error.Message);
        Assert.Contains(seed.LogPath, error.Message);
        Assert.True(File.Exists(seed.LogPath));
        Assert.Equal("A", seed.Label);
        Assert.Equal("A (127.0.0.1:1)", cluster.Describe("127.0.0.1:1"));
        Assert.Equal("10.0.0.1:5", cluster.Describe("10.0.0.1:5"));
        Assert.Equal("-", cluster.Describe(null));
    }

    [Fact]
    public async Task Nodes_not_Up_in_time_fail_the_start_and_are_killed_with_the_cluster()
    {
        string folder = NewFolder("silent");
        var cluster = Cluster(folder, (_, info) => new ProcessStartInfo("sleep", "30") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true });
        var error = await Assert.ThrowsAsync<ClusterStartException>(() =>
            cluster.StartAsync([("127.0.0.1", 3)], TimeSpan.FromMilliseconds(500), CancellationToken.None));
        Assert.Contains("not Up within", error.Message);
        var node = Assert.Single(cluster.Nodes);
        Assert.False(node.HasExited);

        cluster.Dispose();
        cluster.Dispose(); // a signal handler and the normal ending may both get here
        Assert.True(node.HasExited);
        Assert.True(node.KilledOnPurpose);
        Assert.False(Directory.Exists(folder));
        // Killed on purpose: not reported as ending on its own.
        lock (_log) Assert.DoesNotContain(_log, line => line.Contains("on its own", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_kept_folder_stays_and_a_cancelled_start_is_a_cancellation()
    {
        string folder = NewFolder("kept");
        var cluster = Cluster(folder, (_, info) => new ProcessStartInfo("sleep", "30") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true });
        cluster.KeepFolder = true;
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            cluster.StartAsync([("127.0.0.1", 4)], TimeSpan.FromSeconds(60), cancel.Token));
        cluster.Dispose();
        Assert.True(Directory.Exists(folder));
        Assert.True(File.Exists(Path.Combine(folder, "node-A-4.log")));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            cluster.StartAsync([("127.0.0.1", 5)], TimeSpan.FromSeconds(1), CancellationToken.None));
    }
}
