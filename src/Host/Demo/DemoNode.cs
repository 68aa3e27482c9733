using System.Diagnostics;

namespace Lockstep.Host.Demo;

/// <summary>One `lockstep node` child process of the demo and the file its output goes to.</summary>
public sealed class DemoNode(string label, int port, Process process, StreamWriter log, string logPath)
{
    private readonly Lock _logLock = new();
    private bool _logClosed;

    /// <summary>"A", "B", "C": short names for the view.</summary>
    public string Label { get; } = label;

    public int Port { get; } = port;

    /// <summary>"127.0.0.1:port", as the cluster and `vm status` name the node.</summary>
    public string Endpoint => $"127.0.0.1:{Port}";

    public Process Process { get; } = process;

    public string LogPath { get; } = logPath;

    /// <summary>Set when the demo killed the node on purpose, so its exit is not reported as a surprise.</summary>
    public bool KilledOnPurpose { get; set; }

    public bool HasExited
    {
        get
        {
            try
            {
                return Process.HasExited;
            }
            catch (InvalidOperationException)
            {
                return true;
            }
        }
    }

    public void WriteLog(string? line)
    {
        if (line is null) return;
        lock (_logLock)
        {
            // Output can still trickle in from the reader threads after the node was killed and its log closed.
            if (!_logClosed) log.WriteLine(line);
        }
    }

    /// <summary>SIGKILL, no goodbye: to the cluster the node simply vanishes.</summary>
    public void Kill()
    {
        try
        {
            Process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public void CloseLog()
    {
        lock (_logLock)
        {
            if (_logClosed) return;
            _logClosed = true;
            log.Dispose();
        }
    }
}
