using System.Globalization;
using System.Text;
using Lockstep.Harness;
using Lockstep.Host.Cli.Client;

namespace Lockstep.Host.Demo;

/// <summary>
/// What the demo shows while it runs. On a terminal: a screen redrawn in place four times a second. Otherwise
/// (a pipe, a file, a test): the events as they happen and one progress line a second, so logs stay readable.
/// </summary>
public sealed class DemoView : IDisposable
{
    private const string Home = "\u001b[H";
    private const string ClearScreen = "\u001b[2J";
    private const string ClearLineEnd = "\u001b[K";
    private const string ClearBelow = "\u001b[J";
    private const int EventLines = 12;

    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private readonly TextWriter _output;
    private readonly bool _live;
    private readonly DemoClock _clock;
    private readonly DemoEvents _events;
    private readonly NodeCluster _cluster;
    private readonly CancellationTokenSource _stop = new();
    private Thread? _thread;
    private int _eventsShown;
    private double _lastProgressMs;

    public DemoView(TextWriter output, bool live, DemoClock clock, DemoEvents events, NodeCluster cluster)
    {
        _output = output;
        _live = live;
        _clock = clock;
        _events = events;
        _cluster = cluster;
    }

    /// <summary>What the demo is doing now, in a few words.</summary>
    public string Phase { get; set; } = "starting";

    public DemoStatusMonitor? Monitor { get; set; }

    public DemoLoad? Load { get; set; }

    public void Start()
    {
        if (_live) _output.Write(ClearScreen);
        _thread = new Thread(Run) { IsBackground = true, Name = "demo-view" };
        _thread.Start();
    }

    /// <summary>Draws once more (so the final picture is complete) and stops.</summary>
    public void Stop()
    {
        if (_thread is null) return;
        _stop.Cancel();
        _thread.Join();
        _thread = null;
        Draw();
        _output.Flush();
    }

    public void Dispose()
    {
        Stop();
        _stop.Dispose();
    }

    private void Run()
    {
        var interval = TimeSpan.FromMilliseconds(_live ? 250 : 100);
        while (!_stop.Token.WaitHandle.WaitOne(interval)) Draw();
    }

    private void Draw()
    {
        try
        {
            if (_live) DrawScreen();
            else DrawLines();
        }
        catch (IOException)
        {
            // The reader went away (a closed pipe); the demo still runs to its end and cleans up.
        }
    }

    private void DrawLines()
    {
        var text = new StringBuilder();
        foreach (var e in _events.Since(_eventsShown))
        {
            text.Append(Invariant, $"[{DemoClock.Stamp(e.AtMs)}] * {e.Text}\n");
            _eventsShown++;
        }
        double now = _clock.NowMs;
        if (now - _lastProgressMs >= 1000 && (Monitor is not null || Load is not null))
        {
            _lastProgressMs = now;
            text.Append(Invariant, $"[{DemoClock.Stamp(now)}]   {VmLine()} | {LoadLine()} | {LockstepLine()}\n");
        }
        if (text.Length == 0) return;
        _output.Write(text.ToString());
        _output.Flush();
    }

    private void DrawScreen()
    {
        var lines = new List<string>
        {
            $"Lockstep demo: a protected kv VM on {DemoOptions.NodeCount} local nodes   {DemoClock.Stamp(_clock.NowMs)}",
            "",
            $"phase     {Phase}",
            $"VM        {VmLine()}",
            $"nodes     {NodesLine()}",
            $"load      {LoadLine()}",
            $"lockstep  {LockstepLine()}",
            "",
            "events",
        };
        lines.AddRange(_events.Last(EventLines).Select(e => $"  {DemoClock.Stamp(e.AtMs)}  {e.Text}"));
        int width = Width();
        var frame = new StringBuilder(Home);
        foreach (string line in lines)
            frame.Append(line.Length > width ? line[..width] : line).Append(ClearLineEnd).Append('\n');
        frame.Append(ClearBelow);
        _output.Write(frame.ToString());
        _output.Flush();
    }

    private string VmLine()
    {
        if (Monitor is null) return "not created yet";
        var status = Monitor.Latest;
        if (status is null) return Monitor.Failure ?? "waiting for the first status";
        double age = (_clock.NowMs - Monitor.LatestAtMs) / 1000;
        string stale = Monitor.Failure is { } failure ? $"  (last known, {age:0.0} s old; {failure})"
            : age >= 1 ? $"  (last known, {age:0.0} s old)" : "";
        return $"{status.State}, generation {status.Generation}, primary {_cluster.Describe(status.Primary)}, " +
               $"secondary {_cluster.Describe(status.Secondary)}{stale}";
    }

    private string NodesLine() => string.Join("   ", _cluster.Nodes.Select(n =>
        $"{n.Label} {n.Port} {(n.HasExited ? n.KilledOnPurpose ? "killed" : "exited" : "up")}"));

    private string LoadLine()
    {
        if (Load is null) return "not started";
        double now = _clock.NowMs;
        var lastSecond = Load.Samples.Between(now - 1000, now);
        int resent = lastSecond.Count(a => a.Sends > 1);
        return $"{lastSecond.Count} ops/s, p50 {Ms(DemoSamples.Percentile(lastSecond, 0.50))}, " +
               $"p99 {Ms(DemoSamples.Percentile(lastSecond, 0.99))}, {resent} resent (last second), {Load.Samples.Count:N0} answered";
    }

    private string LockstepLine()
    {
        if (Monitor?.Latest is not { } status) return "-";
        return $"vLockstep interval {status.LagMs.ToString("0.0", Invariant)} ms, log {StatusView.Bandwidth(status.LogBytesPerSecond)}";
    }

    private static string Ms(double ms) => double.IsNaN(ms) ? "-" : ms.ToString(ms < 10 ? "0.0" : "0", Invariant) + " ms";

    private static int Width()
    {
        try
        {
            int width = Console.WindowWidth;
            return width > 20 ? width - 1 : 200;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or PlatformNotSupportedException)
        {
            return 200;
        }
    }
}
