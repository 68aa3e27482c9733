namespace Lockstep.Harness;

/// <summary>
/// One `lockstep node` process of a <see cref="NodeCluster"/>: where it listens, its output (in memory
/// and in its log file as it comes), and what the harness did to it.
/// </summary>
public sealed class NodeProcess(int index, string label, string host, int port, ChildProcess process, string logPath)
{
    /// <summary>Its place in the cluster, from 0 (the seed).</summary>
    public int Index { get; } = index;

    /// <summary>"A", "B", "C": short names for people.</summary>
    public string Label { get; } = label;

    public string Host { get; } = host;

    public int Port { get; } = port;

    /// <summary>"host:port", as the cluster, `vm status`, the claims and --contact name the node.</summary>
    public string Endpoint => $"{Host}:{Port}";

    public ChildProcess Process { get; } = process;

    public string LogPath { get; } = logPath;

    /// <summary>Everything it printed so far, both streams as they came: the same text as its log file.</summary>
    public string Output => Process.AllOutput;

    public bool HasExited => Process.HasExited;

    /// <summary>Set when the harness killed it, so its end is not reported as a surprise.</summary>
    public bool KilledOnPurpose { get; internal set; }

    /// <summary>Set when the harness asked it to leave the cluster (<see cref="NodeCluster.Leave"/>).</summary>
    public bool Left { get; internal set; }

    /// <summary>True between <see cref="NodeCluster.Pause"/> and <see cref="NodeCluster.Resume"/>.</summary>
    public bool Paused { get; internal set; }

    /// <summary>
    /// Whether clients should be pointed at it (<see cref="NodeCluster.Contacts"/>). Cleared when the harness
    /// kills or freezes it, and by whoever cuts it off the network; a frozen node that resumes stays out
    /// until someone sets it again, since the cluster may have shut it out meanwhile.
    /// </summary>
    public bool IsContact { get; set; } = true;

    public override string ToString() => $"node {Label} {Endpoint} (pid {Process.Id})";
}
