using Lockstep.Actors.Protocol;
using System.Text;
using Lockstep.Replication;
using Lockstep.Replication.Stats;
using Prometheus;

namespace Lockstep.Dashboard;

/// <summary>
/// The Prometheus figures of this node (GET /metrics): gauges set from each poll of <see cref="VmSampler"/>,
/// so a scrape sees values at most one poll interval old. Series of a VM that is gone are removed. The output-hold
/// histograms are the primaries' own counts, written beside prometheus-net's series (<see cref="HistogramText"/>).
/// </summary>
public sealed class DashboardMetrics
{
    private readonly Gauge _state;
    private readonly Gauge _generation;
    private readonly Gauge _interval;
    private readonly Gauge _logBandwidth;
    private readonly Gauge _logShipped;
    private readonly Gauge _instructions;
    private readonly Gauge _outputs;
    private readonly Gauge _released;
    private readonly Gauge _held;
    private readonly Gauge _failovers;
    private readonly Gauge _operations;
    private readonly Gauge _lastGap;
    private readonly Gauge _reprotectPause;
    private readonly Gauge _reprotectDuration;
    private readonly Lock _holdLock = new();
    private Dictionary<string, LatencyCounts> _outputHold = new(StringComparer.Ordinal);
    private readonly Gauge _paused;
    private readonly Gauge _sides;
    private readonly Gauge _members;
    private readonly Counter _pollErrors;
    private readonly Gauge _lastPoll;

    public DashboardMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        var factory = Metrics.WithCustomRegistry(registry);
        Gauge VmGauge(string name, string help, params string[] more) =>
            factory.CreateGauge(name, help, new GaugeConfiguration { LabelNames = ["vm", .. more] });
        _state = VmGauge("lockstep_vm_state", "1 for the VM's present state, 0 for the others", "state");
        _generation = VmGauge("lockstep_vm_generation", "Generation of the VM's live primary (one more after each failover)");
        _interval = VmGauge("lockstep_vm_vlockstep_interval_milliseconds", "How far the secondary's replay trails the primary, from its last acknowledgement");
        _logBandwidth = VmGauge("lockstep_vm_log_bytes_per_second", "Log bandwidth from primary to secondary, as the primary measures it");
        _logShipped = VmGauge("lockstep_vm_log_shipped_bytes", "Log bytes the present primary has sent since it went live (starts at 0 after a failover)");
        _instructions = VmGauge("lockstep_vm_instructions", "Guest instructions executed (the VM's position)");
        _outputs = VmGauge("lockstep_vm_outputs", "Outputs (packets) the guest has made");
        _released = VmGauge("lockstep_vm_outputs_released", "Outputs let out under the output rule");
        _held = VmGauge("lockstep_vm_outputs_held", "Outputs made and waiting for the secondary's acknowledgement, at the poll");
        _failovers = VmGauge("lockstep_vm_failovers", "Failovers in the VM's history, by kind: primary (the secondary took over) or secondary (the primary lost its secondary)", "kind");
        _operations = VmGauge("lockstep_vm_operations", "Operator operations in the VM's history");
        _lastGap = VmGauge("lockstep_vm_last_failover_gap_milliseconds", "How long the VM was without a live primary in its last primary failover");
        _reprotectPause = VmGauge("lockstep_vm_reprotect_pause_milliseconds", "How long the VM stood still for its last secondary's snapshot (re-protection pause)");
        _reprotectDuration = VmGauge("lockstep_vm_reprotect_duration_milliseconds", "How long the last secondary took to come in: connect, RAM copy, pause and its first acknowledgement");
        _paused = VmGauge("lockstep_vm_paused", "1 while the operator has paused the guest");
        _sides = factory.CreateGauge("lockstep_node_vm_sides", "VM sides each cluster member runs, by role (from the VM statuses)",
            new GaugeConfiguration { LabelNames = ["node", "role"] });
        _members = factory.CreateGauge("lockstep_cluster_members", "Cluster members this node sees, by membership status",
            new GaugeConfiguration { LabelNames = ["status"] });
        _pollErrors = factory.CreateCounter("lockstep_dashboard_poll_errors_total", "Status polls the gateway did not answer, by what was asked",
            new CounterConfiguration { LabelNames = ["what"] });
        _lastPoll = factory.CreateGauge("lockstep_dashboard_last_poll_timestamp_seconds", "When this node last polled the VM statuses (Unix time)");
    }

    public CollectorRegistry Registry { get; }

    public void Update(ClusterSnapshot snapshot)
    {
        _lastPoll.Set(new DateTimeOffset(snapshot.At).ToUnixTimeMilliseconds() / 1000.0);
        if (snapshot.Error is not null)
        {
            _pollErrors.WithLabels("list").Inc();
            return;
        }
        var vms = snapshot.Vms.Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var gauge in new[] { _state, _generation, _interval, _logBandwidth, _logShipped, _instructions, _outputs, _released, _held, _failovers, _operations, _lastGap, _reprotectPause, _reprotectDuration, _paused })
        {
            foreach (var labels in gauge.GetAllLabelValues().Where(l => !vms.Contains(l[0])).ToList()) gauge.RemoveLabelled(labels);
        }
        var holds = new Dictionary<string, LatencyCounts>(StringComparer.Ordinal);
        foreach (var entry in snapshot.Vms)
        {
            if (entry.Status?.Figures?.OutputHold is { } hold) holds[entry.Name] = hold;
            if (entry.Error is not null) _pollErrors.WithLabels("status").Inc();
            if (entry.Status is { } status) UpdateVm(status, entry.Sample);
        }
        lock (_holdLock) _outputHold = holds;
        foreach (var labels in _sides.GetAllLabelValues().ToList()) _sides.RemoveLabelled(labels);
        foreach (var member in snapshot.Members)
        {
            _sides.WithLabels(member.Node, "primary").Set(member.Primaries);
            _sides.WithLabels(member.Node, "secondary").Set(member.Secondaries);
        }
        foreach (var labels in _members.GetAllLabelValues().ToList()) _members.RemoveLabelled(labels);
        foreach (var group in snapshot.Members.GroupBy(m => m.Status)) _members.WithLabels(group.Key).Set(group.Count());
    }

    private void UpdateVm(VmStatus status, VmSample? sample)
    {
        string vm = status.Name;
        foreach (var state in Enum.GetValues<VmState>()) _state.WithLabels(vm, state.ToString()).Set(state == status.State ? 1 : 0);
        _generation.WithLabels(vm).Set(status.Generation);
        _interval.WithLabels(vm).Set(status.LagMs);
        _logBandwidth.WithLabels(vm).Set(status.LogBytesPerSecond);
        _instructions.WithLabels(vm).Set(status.Instructions);
        _outputs.WithLabels(vm).Set(status.Outputs);
        var kinds = status.History.Where(h => h.Kind == HistoryKind.Failover).GroupBy(FailoverKinds.Of).ToDictionary(g => g.Key, g => g.Count());
        foreach (string kind in FailoverKinds.All) _failovers.WithLabels(vm, kind).Set(kinds.GetValueOrDefault(kind));
        _operations.WithLabels(vm).Set(status.History.Count(h => h.Kind == HistoryKind.Operation));
        if (status.History.LastOrDefault(h => h.Kind == HistoryKind.Failover && FailoverKinds.Of(h) == FailoverKinds.Primary) is { } last)
            _lastGap.WithLabels(vm).Set(last.GapMs);
        if (status.Figures is { } figures)
        {
            _logShipped.WithLabels(vm).Set(figures.LogBytesShipped);
            _released.WithLabels(vm).Set(figures.OutputsReleased);
            _reprotectPause.WithLabels(vm).Set(figures.LastReprotectPauseMs);
            _reprotectDuration.WithLabels(vm).Set(figures.LastReprotectMs);
            _paused.WithLabels(vm).Set(figures.Paused ? 1 : 0);
        }
        if (sample?.OutputsHeld is { } held) _held.WithLabels(vm).Set(held);
    }

    /// <summary>The histograms prometheus-net does not hold: each VM's output-hold times, as its primary counted them at the last poll.</summary>
    public void WriteHistograms(StringBuilder text)
    {
        Dictionary<string, LatencyCounts> holds;
        lock (_holdLock) holds = _outputHold;
        HistogramText.Write(text, "lockstep_vm_output_hold_seconds",
            "How long each output waited under the output rule, from the slice that made it to its release (the live primary's count: starts again after a failover)",
            holds.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => ((IReadOnlyList<(string, string)>)[("vm", h.Key)], h.Value)));
    }
}
