using Lockstep.Replication;
using System.Globalization;
using Lockstep.Actors.Protocol;
using Lockstep.Host.Cli.Client;

namespace Lockstep.Host.Demo;

/// <summary>
/// Asks the cluster for the VM's status a few times a second, keeps the latest answer and the figures over
/// time, and turns every change it sees (state, placement, generation, a takeover) into an event.
/// </summary>
public sealed class DemoStatusMonitor : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(250);

    // Short, so one slow answer during a failover does not hide the next ones.
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);

    private readonly ControlClient _client;
    private readonly string _vm;
    private readonly DemoClock _clock;
    private readonly DemoEvents _events;
    private readonly Func<string?, string> _describe;
    private readonly List<DemoStatusSample> _samples = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private Thread? _thread;
    private VmStatus? _latest;
    private double _latestAtMs;
    private string? _lastFailure;

    public DemoStatusMonitor(ControlClient client, string vm, DemoClock clock, DemoEvents events, Func<string?, string> describe)
    {
        _client = client;
        _vm = vm;
        _clock = clock;
        _events = events;
        _describe = describe;
    }

    public VmStatus? Latest
    {
        get
        {
            lock (_lock) return _latest;
        }
    }

    /// <summary>When <see cref="Latest"/> was answered (demo time).</summary>
    public double LatestAtMs
    {
        get
        {
            lock (_lock) return _latestAtMs;
        }
    }

    /// <summary>Why the last ask failed, or null when the last ask was answered.</summary>
    public string? Failure
    {
        get
        {
            lock (_lock) return _lastFailure;
        }
    }

    public IReadOnlyList<DemoStatusSample> Samples()
    {
        lock (_lock) return _samples.ToList();
    }

    public void Start()
    {
        // ControlClient.Ask blocks, so the polling gets a thread of its own rather than a pool thread.
        _thread = new Thread(Poll) { IsBackground = true, Name = "demo-status" };
        _thread.Start();
    }

    /// <summary>The first status that satisfies <paramref name="wanted"/>, or null when <paramref name="timeout"/> passes first.</summary>
    public async Task<VmStatus?> WaitForAsync(Func<VmStatus, bool> wanted, TimeSpan timeout, CancellationToken cancel)
    {
        double until = _clock.NowMs + timeout.TotalMilliseconds;
        while (_clock.NowMs < until)
        {
            if (Latest is { } status && wanted(status)) return status;
            await Task.Delay(50, cancel);
        }
        return null;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread?.Join(AskTimeout + TimeSpan.FromSeconds(1));
        _stop.Dispose();
    }

    private void Poll()
    {
        while (!_stop.IsCancellationRequested)
        {
            Refresh();
            _stop.Token.WaitHandle.WaitOne(Interval);
        }
    }

    private void Refresh()
    {
        VmStatus status;
        try
        {
            status = _client.Ask<VmStatus>(new GetVmStatus(_vm), AskTimeout);
        }
        catch (Exception e) when (e is ClusterUnavailableException or GatewayException)
        {
            string failure = e is ClusterUnavailableException ? $"no status answer within {AskTimeout.TotalSeconds:0} s" : e.Message;
            bool fresh;
            lock (_lock)
            {
                fresh = _lastFailure != failure;
                _lastFailure = failure;
            }
            if (fresh) _events.Add($"status: {failure}");
            return;
        }
        VmStatus? previous;
        lock (_lock)
        {
            previous = _latest;
            _latest = status;
            _latestAtMs = _clock.NowMs;
            _lastFailure = null;
            _samples.Add(new DemoStatusSample(_clock.NowMs, status.State, status.Generation, status.LagMs, status.LogBytesPerSecond));
        }
        Report(previous, status);
    }

    private void Report(VmStatus? before, VmStatus now)
    {
        if (before is null)
        {
            _events.Add($"VM {now.Name}: {now.State}, generation {now.Generation}, primary {_describe(now.Primary)}");
            return;
        }
        foreach (var record in now.History.Skip(before.History.Count))
        {
            string gap = record.GapMs.ToString("0", CultureInfo.InvariantCulture);
            _events.Add(record.GapMs > 0
                ? $"takeover: {_describe(record.TookOver)} is primary, generation {record.Generation}, after {gap} ms silence ({record.Reason})"
                : $"history: {record.Reason} (generation {record.Generation})");
        }
        if (now.Generation != before.Generation) _events.Add($"generation {before.Generation} → {now.Generation}");
        if (now.Primary != before.Primary) _events.Add($"primary {_describe(before.Primary)} → {_describe(now.Primary)}");
        if (now.State != before.State)
        {
            string extra = now.State == VmState.Protected ? $", secondary {_describe(now.Secondary)}; {now.Detail}" : "";
            _events.Add($"state {before.State} → {now.State}{extra}");
        }
        else if (now.Secondary != before.Secondary && now.Secondary is not null)
        {
            _events.Add($"secondary {_describe(before.Secondary)} → {_describe(now.Secondary)}");
        }
    }
}
