using Akka.Actor;
using Akka.Event;
using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>
/// Polls every VM's status through the gateway once per <see cref="Interval"/> (`lockstep.dashboard.poll-interval`,
/// default <see cref="DefaultInterval"/>), keeps the last
/// <see cref="Window"/> of samples per VM for the charts, and hands each poll to whoever waits for the next
/// (the live pages) and to <see cref="Polled"/> (the metrics). One poll at a time: a slow cluster makes the
/// polls slower, never piles them up.
/// </summary>
public sealed class VmSampler : IAsyncDisposable
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan MaxInterval = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(3);

    private readonly ActorSystem _system;
    private readonly GatewayClient _gateway;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, VmSeries> _series = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly string _node;
    private TaskCompletionSource<ClusterSnapshot> _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ClusterSnapshot _latest;
    private Task? _loop;

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="interval"/> is outside <see cref="MinInterval"/>-<see cref="MaxInterval"/>.</exception>
    public VmSampler(ActorSystem system, GatewayClient gateway, TimeSpan interval)
    {
        if (interval < MinInterval || interval > MaxInterval)
            throw new ArgumentOutOfRangeException(nameof(interval), interval,
                $"the dashboard's poll interval must be between {MinInterval.TotalMilliseconds:0} ms and {MaxInterval.TotalSeconds:0} s");
        Interval = interval;
        _system = system;
        _gateway = gateway;
        _node = ClusterMembers.NodeName(Akka.Cluster.Cluster.Get(system).SelfAddress);
        _latest = ClusterSnapshot.Empty(_node);
    }

    /// <summary>How often every VM's status is polled.</summary>
    public TimeSpan Interval { get; }

    /// <summary>Called after every poll, on the sampler's task.</summary>
    public event Action<ClusterSnapshot>? Polled;

    public ClusterSnapshot Latest
    {
        get { lock (_lock) return _latest; }
    }

    public void Start() => _loop ??= Task.Run(() => Run(_stop.Token));

    /// <summary>The samples kept for <paramref name="vm"/>, oldest first; empty when it is not known (yet).</summary>
    public IReadOnlyList<VmSample> SamplesOf(string vm)
    {
        lock (_lock) return _series.TryGetValue(vm, out var series) ? series.Samples : [];
    }

    /// <summary>Completes with the next poll (or is cancelled).</summary>
    public Task<ClusterSnapshot> NextAsync(CancellationToken cancel)
    {
        Task<ClusterSnapshot> next;
        lock (_lock) next = _next.Task;
        return next.WaitAsync(cancel);
    }

    /// <summary>Polls once, now (the loop does this every interval).</summary>
    private async Task<ClusterSnapshot> PollAsync(CancellationToken cancel)
    {
        var at = DateTime.UtcNow;
        IReadOnlyList<string> names;
        try
        {
            names = (await _gateway.AskAsync<VmList>(new ListVms(), AskTimeout, cancel)).Names;
        }
        catch (GatewayRefusedException e)
        {
            return Publish(new ClusterSnapshot(at, _node, [], ClusterMembers.Read(_system, []), e.Message));
        }
        var polls = names.Order(StringComparer.Ordinal).Select(name => PollVm(name, cancel)).ToList();
        var statuses = await Task.WhenAll(polls);
        var entries = new List<VmEntry>();
        lock (_lock)
        {
            foreach (var gone in _series.Keys.Except(names).ToList()) _series.Remove(gone);
            foreach (var (name, status, error) in statuses)
            {
                if (!_series.TryGetValue(name, out var series))
                    _series[name] = series = new VmSeries((int)(Window / Interval));
                if (status is null)
                {
                    series.Missed();
                    entries.Add(new VmEntry(name, series.Latest, null, error));
                }
                else entries.Add(new VmEntry(name, status, series.Add(at, status), null));
            }
        }
        return Publish(new ClusterSnapshot(at, _node, entries, ClusterMembers.Read(_system, entries), null));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
            }
        }
        _stop.Dispose();
    }

    private async Task<(string Name, VmStatus? Status, ControlError? Error)> PollVm(string name, CancellationToken cancel)
    {
        try
        {
            return (name, await _gateway.AskAsync<VmStatus>(new GetVmStatus(name), AskTimeout, cancel), null);
        }
        catch (GatewayRefusedException e)
        {
            return (name, null, e.Error);
        }
    }

    private ClusterSnapshot Publish(ClusterSnapshot snapshot)
    {
        TaskCompletionSource<ClusterSnapshot> waiting;
        lock (_lock)
        {
            _latest = snapshot;
            waiting = _next;
            _next = new TaskCompletionSource<ClusterSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        Polled?.Invoke(snapshot);
        waiting.SetResult(snapshot);
        return snapshot;
    }

    private async Task Run(CancellationToken stop)
    {
        using var timer = new PeriodicTimer(Interval);
        do
        {
            try
            {
                await PollAsync(stop);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A poll that failed in an unforeseen way must not end the dashboard: the next one tries again.
                _system.Log.Warning("dashboard: polling the VM statuses failed: {0}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stop));
    }
}
