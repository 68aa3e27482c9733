using System.Diagnostics;

namespace Lockstep.Host.Demo;

/// <summary>
/// The demo's local cluster: real `lockstep node` processes sharing one SQLite journal in a temporary
/// folder. Disposing it kills every node and removes the folder; that is safe from any thread, any
/// number of times, because the signal handlers and the normal ending may race to do it.
/// </summary>
public sealed class DemoCluster : IDisposable
{
    private static readonly string[] Labels = ["A", "B", "C", "D", "E", "F", "G", "H"];

    private readonly List<DemoNode> _nodes = [];
    private readonly DemoEvents _events;
    private readonly bool _keep;
    private readonly Lock _disposeLock = new();
    private bool _disposed;

    private DemoCluster(string workDir, DemoEvents events, bool keep)
    {
        WorkDir = workDir;
        _events = events;
        _keep = keep;
    }

    public string WorkDir { get; }

    public IReadOnlyList<DemoNode> Nodes => _nodes;

    /// <summary>"host:port,..." of every node, for ClusterClient; any live one serves.</summary>
    public string Contacts => string.Join(",", _nodes.Select(n => n.Endpoint));

    public static DemoCluster Start(IReadOnlyList<int> ports, bool keep, DemoEvents events)
    {
        var workDir = Directory.CreateTempSubdirectory("lockstep-demo-").FullName;
        var cluster = new DemoCluster(workDir, events, keep);
        try
        {
            string journal = "sqlite:" + Path.Combine(workDir, "lockstep.db");
            string seed = $"127.0.0.1:{ports[0]}";
            for (int i = 0; i < ports.Count; i++) cluster.Launch(Labels[i % Labels.Length], ports[i], seed, journal);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    public DemoNode? NodeAt(string? endpoint) => _nodes.Find(n => n.Endpoint == endpoint);

    /// <summary>"B (127.0.0.1:4901)", or the endpoint alone when it is not one of ours, or "-".</summary>
    public string Describe(string? endpoint) =>
        endpoint is null ? "-" : NodeAt(endpoint) is { } node ? $"{node.Label} ({endpoint})" : endpoint;

    public void Kill(DemoNode node)
    {
        node.KilledOnPurpose = true;
        node.Kill();
    }

    public void Dispose()
    {
        // A second caller (the normal ending racing a signal handler) waits until the first has finished,
        // so that the process cannot exit while the folder is still being removed.
        lock (_disposeLock)
        {
            if (_disposed) return;
            _disposed = true;
            KillAndRemove();
        }
    }

    private void KillAndRemove()
    {
        foreach (var node in _nodes)
        {
            node.KilledOnPurpose = true;
            node.Kill();
        }
        foreach (var node in _nodes)
        {
            try
            {
                node.Process.WaitForExit(3000);
            }
            catch (InvalidOperationException)
            {
            }
            node.CloseLog();
            node.Process.Dispose();
        }
        if (!_keep) DeleteWorkDir();
    }

    private void Launch(string label, int port, string seed, string journal)
    {
        var start = new ProcessStartInfo(DemoPaths.DotnetHost())
        {
            WorkingDirectory = WorkDir,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { DemoPaths.ProgramDll(), "node", "--port", port.ToString(), "--seeds", seed, "--journal", journal })
            start.ArgumentList.Add(arg);
        // The nodes run from the temporary folder, where walking up would not find the repository's configuration.
        if (DemoPaths.Hocon() is { } hocon) start.Environment["LOCKSTEP_HOCON"] = hocon;

        string logPath = Path.Combine(WorkDir, $"node-{label}-{port}.log");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        DemoNode? node = null;
        process.OutputDataReceived += (_, e) => node?.WriteLog(e.Data);
        process.ErrorDataReceived += (_, e) => node?.WriteLog(e.Data);
        try
        {
            process.Start();
        }
        catch
        {
            log.Dispose();
            process.Dispose();
            throw;
        }
        node = new DemoNode(label, port, process, log, logPath);
        _nodes.Add(node);
        process.Exited += (_, _) =>
        {
            if (!node.KilledOnPurpose) _events.Add($"node {label} ({node.Endpoint}) exited on its own; see {logPath}");
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _events.Add($"started node {label} on {node.Endpoint} (pid {process.Id})");
    }

    private void DeleteWorkDir()
    {
        // A node that was just killed may still be closing its files; a few tries cover that.
        for (int attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                if (Directory.Exists(WorkDir)) Directory.Delete(WorkDir, recursive: true);
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Thread.Sleep(200);
            }
        }
    }
}
