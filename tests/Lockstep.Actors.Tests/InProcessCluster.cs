using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Lockstep.Replication;
using Lockstep.Replication.Claims;
using Lockstep.Actors.Node;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Tests;

/// <summary>
/// Several real cluster nodes (ActorSystems joined over loopback) in this process, sharing one
/// SQLite file as the shared storage, as `lockstep node` processes started from one folder do.
/// </summary>
public sealed class InProcessCluster : IDisposable
{
    private readonly string _directory;
    private readonly bool _ownsDirectory;
    private readonly List<NodeHandles?> _nodes = [];
    private readonly int _basePort;

    /// <param name="directory">Shared storage of an earlier cluster to start on (a whole-cluster restart); a new one when null.</param>
    /// <param name="config">HOCON on top of every node's configuration (the tests' own settings included).</param>
    public InProcessCluster(int basePort, int size, string? directory = null, string? config = null)
    {
        _ownsDirectory = directory is null;
        _directory = directory ?? Directory.CreateTempSubdirectory("lockstep-cluster-").FullName;
        _basePort = basePort;
        string db = Path.Combine(_directory, "lockstep.db");
        var claims = ClaimStore.ForJournal(JournalLocation.Parse($"sqlite:{db}"));
        for (int i = 0; i < size; i++)
        {
            var options = new NodeOptions("127.0.0.1", basePort + i, [$"127.0.0.1:{basePort}"], $"sqlite:{db}", RepoRoot.Hocon);
            // No serializer warm-up: three systems in one process would spend ~12 s of CPU on it per cluster, and these tests time nothing.
            var nodeConfig = ConfigurationFactory.ParseString("akka.loglevel = WARNING\nakka.cluster.split-brain-resolver.stable-after = 3s\nlockstep.serializer-warmup = off\n" + (config ?? ""))
                .WithFallback(NodeConfig.Build(options, JournalLocation.Parse($"sqlite:{db}")));
            var system = ActorSystem.Create("lockstep", nodeConfig);
            _nodes.Add(LockstepNode.Start(system, claims));
        }
        WaitUntil(() => Alive.All(n => Cluster.Get(n.System).State.Members.Count(m => m.Status == MemberStatus.Up) == size),
            TimeSpan.FromSeconds(30), "cluster did not come up");
    }

    public string StorageDirectory => _directory;

    public IEnumerable<NodeHandles> Alive => _nodes.Where(n => n is not null)!;

    public int IndexOf(string hostPort) => int.Parse(hostPort.Split(':')[1]) - _basePort;

    public NodeHandles Node(int index) => _nodes[index] ?? throw new InvalidOperationException($"node {index} was killed");

    /// <summary>Stops a node without leaving the cluster: its actors, executors and sockets go at once.</summary>
    public void Kill(int index)
    {
        var node = Node(index);
        _nodes[index] = null;
        node.System.Terminate().Wait(TimeSpan.FromSeconds(10));
    }

    public T Ask<T>(object request, TimeSpan? timeout = null)
    {
        Exception? last = null;
        foreach (var node in Alive)
        {
            try
            {
                return node.Gateway.Ask<T>(request, timeout ?? TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is AskTimeoutException or InvalidCastException)
            {
                last = e;
            }
        }
        throw new TimeoutException($"no node answered {request}", last);
    }

    /// <summary>The VM's status, or null while no node can give one.</summary>
    public VmStatus? Status(string name) => Ask<object>(new GetVmStatus(name)) as VmStatus;

    public VmStatus WaitForProtected(string name, long minGeneration = 1, TimeSpan? timeout = null)
    {
        VmStatus? status = null;
        WaitUntil(() =>
        {
            status = Status(name);
            return status is { State: VmState.Protected } && status.Generation >= minGeneration && status.Primary != status.Secondary;
        }, timeout ?? TimeSpan.FromSeconds(40), $"{name} did not become Protected (generation >= {minGeneration})");
        return status!;
    }

    public static void WaitUntil(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (condition()) return;
            }
            catch (TimeoutException)
            {
                // a node is busy failing over; ask again
            }
            Thread.Sleep(100);
        }
        throw new TimeoutException(what);
    }

    public static byte[] Text(string s) => Encoding.UTF8.GetBytes(s);

    public void Dispose()
    {
        foreach (var node in Alive.ToList()) node.System.Terminate().Wait(TimeSpan.FromSeconds(10));
        if (_ownsDirectory) DeleteStorage(_directory);
    }

    public static void DeleteStorage(string directory)
    {
        try { Directory.Delete(directory, recursive: true); } catch (IOException) { }
    }
}
