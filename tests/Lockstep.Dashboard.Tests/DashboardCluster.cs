using System.Globalization;
using Lockstep.Harness;

namespace Lockstep.Dashboard.Tests;

/// <summary>
/// Three real `lockstep node` processes, each serving its dashboard (--http), with a kv VM "kv1" under a steady
/// load of INCR requests from a `vm send` session, and a headless Chromium to look at the pages. Shared by the
/// tests of a class; the nodes use ports 5300-5302 and HTTP ports 5390-5392.
/// </summary>
public sealed class DashboardCluster : IAsyncLifetime
{
    public const string Vm = "kv1";
    public const int BasePort = 5300;
    public const int BaseHttpPort = 5390;
    private const int Nodes = 3;

    private readonly List<string> _log = [];
    private readonly CancellationTokenSource _stop = new();
    private LockstepProgram? _program;
    private NodeCluster? _cluster;
    private ChildProcess? _load;
    private Task? _feeder;

    public string Folder { get; } = Directory.CreateTempSubdirectory("lockstep-dashboard-").FullName;

    public LockstepProgram Program => _program ?? throw new InvalidOperationException("not started");

    public NodeCluster Cluster => _cluster ?? throw new InvalidOperationException("not started");

    public Browser Browser { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(40) };

    /// <summary>What happened so far (nodes started, commands run), for a failing test to print.</summary>
    public string Log
    {
        get { lock (_log) return string.Join("\n", _log); }
    }

    /// <summary>Requests the load has had answered so far.</summary>
    public int Answered => _load?.StdoutLines.Count ?? 0;

    public static Uri Url(int node, string path = "/") => new($"http://127.0.0.1:{BaseHttpPort + node}{path}");

    public static string Endpoint(int node) => $"127.0.0.1:{BasePort + node}";

    public async Task InitializeAsync()
    {
        foreach (int port in Enumerable.Range(0, Nodes).SelectMany(i => new[] { BasePort + i, BaseHttpPort + i }))
        {
            if (!FreePorts.IsFree(port, System.Net.IPAddress.Loopback))
                throw new InvalidOperationException($"port {port} is in use; the dashboard tests need 5300-5302 and 5390-5392 free");
        }
        _program = LockstepProgram.BuildPrivateCopy();
        _cluster = new NodeCluster(_program, Folder, $"sqlite:{Path.Combine(Folder, "lockstep.db")}", Note, (index, info) =>
        {
            info.ArgumentList.Add("--http");
            info.ArgumentList.Add((BaseHttpPort + index).ToString(CultureInfo.InvariantCulture));
            return info;
        });
        await _cluster.StartAsync(Enumerable.Range(0, Nodes).Select(i => ("127.0.0.1", BasePort + i)).ToList(), TimeSpan.FromSeconds(90), _stop.Token);
        var created = await Cli(["vm", "create", Vm, "--image", RepoRoot.Guest("kv"), "--contact", Contacts], TimeSpan.FromSeconds(60));
        if (created.ExitCode != 0) throw new InvalidOperationException($"vm create failed: {created.Output}");
        _load = ChildProcess.Start(Program.StartInfo(Folder, ["vm", "send", Vm, "--peer", "1", "--contact", Contacts, "--timeout", "60"]),
            "vm send (load)", Path.Combine(Folder, "load.log"));
        _feeder = Task.Run(() => Feed(_load, _stop.Token));
        // The pages and figures are looked at under load: wait until it flows.
        if (!await _load.WaitForOutput(p => p.StdoutLines.Count >= 50, TimeSpan.FromSeconds(60), _stop.Token))
            throw new InvalidOperationException($"the load got {Answered} answers in 60 s: {_load.AllOutput}");
        Browser = Browser.Start();
    }

    public string Contacts => string.Join(",", Enumerable.Range(0, Nodes).Select(Endpoint));

    /// <summary>Runs the CLI to its end (killed after <paramref name="timeout"/>).</summary>
    public async Task<(int ExitCode, string Output)> Cli(IReadOnlyList<string> args, TimeSpan timeout)
    {
        Note($"$ lockstep {string.Join(" ", args)}");
        using var process = ChildProcess.Start(Program.StartInfo(Folder, args), $"lockstep {args[0]} {args[1]}");
        if (!await process.WaitForExit(timeout, _stop.Token))
        {
            process.Kill();
            return (-1, $"did not end within {timeout.TotalSeconds} s: {process.AllOutput}");
        }
        Note($"  exit {process.ExitCode}: {process.AllOutput.Trim()}");
        return (process.ExitCode, process.AllOutput);
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            if (_feeder is not null) await _feeder;
        }
        catch (OperationCanceledException)
        {
        }
        Browser?.Dispose();
        _load?.Kill();
        _load?.Dispose();
        _cluster?.Dispose();
        _program?.Dispose();
        Http.Dispose();
        _stop.Dispose();
        if (Directory.Exists(Folder)) Directory.Delete(Folder, recursive: true);
    }

    public void Note(string line)
    {
        lock (_log) _log.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
    }

    // One INCR every 20 ms while the tests run: enough for the figures to move, little for a shared 2-core machine.
    private static async Task Feed(ChildProcess send, CancellationToken stop)
    {
        try
        {
            for (long i = 1; !stop.IsCancellationRequested; i++)
            {
                await send.Stdin.WriteLineAsync($"r{i} INCR load");
                await send.Stdin.FlushAsync(stop);
                await Task.Delay(20, stop);
            }
        }
        catch (IOException)
        {
            // vm send ended; the tests that need the load see its figures stand still and say so.
        }
    }
}
