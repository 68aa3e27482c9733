using Lockstep.Replication;
using Lockstep.Actors.Protocol;
using Lockstep.Harness;
using Lockstep.Host.Cli;
using Lockstep.Host.Cli.Client;

namespace Lockstep.Host.Demo;

/// <summary>
/// The demo's script: three nodes, a protected kv VM, a client load, SIGKILL to the primary's node, the
/// takeover and re-protection as they happen, then the checks. Returns the exit status.
/// </summary>
public sealed class DemoScenario(DemoOptions options, TextWriter output, DemoInterrupt interrupt)
{
    /// <summary>For the seed to be Up, then for all nodes to be Up, then for the client to connect: each.</summary>
    private static readonly TimeSpan ClusterWait = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan ProtectedWait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan TakeoverWait = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan ReprotectWait = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ListenWait = TimeSpan.FromSeconds(20);
    private const uint ReaderPeer = 1000;
    private const int PortSearchWidth = 200;

    private readonly DemoClock _clock = new();
    private readonly DemoTimeline _timeline = new();
    private readonly List<DemoCheck> _failures = [];

    public async Task<int> RunAsync()
    {
        // A demo that hangs is worse than one that fails: everything but the chosen load time has a fixed budget.
        var limit = TimeSpan.FromSeconds(75 + options.LoadSeconds + options.AfterSeconds);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(interrupt.Token);
        deadline.CancelAfter(limit);
        var cancel = deadline.Token;
        var events = new DemoEvents(_clock);
        string image = options.ImagePath();
        byte[] imageBytes = File.ReadAllBytes(image);
        var ports = FreePorts.FindFree(options.BasePort, DemoOptions.Hosts, PortSearchWidth);
        if (ports.Count < DemoOptions.NodeCount)
        {
            throw new UsageException(
                $"--base-port {options.BasePort}: fewer than {DemoOptions.NodeCount} free ports in {options.BasePort}..{options.BasePort + PortSearchWidth - 1}");
        }

        // Each node serves its dashboard (--http) on a port of its own, above the nodes' search range.
        var httpPorts = FreePorts.FindFree(options.BasePort + PortSearchWidth, DemoOptions.Hosts, PortSearchWidth);
        if (httpPorts.Count < DemoOptions.NodeCount)
            throw new UsageException($"--base-port {options.BasePort}: fewer than {DemoOptions.NodeCount} free ports for the dashboards from {options.BasePort + PortSearchWidth}");

        // The VM's port, the same on every node (UDP and TCP), above the dashboards' range.
        int vmPortFrom = options.BasePort + 2 * PortSearchWidth;
        int vmPort = FreePorts.FindFreeOnAll(vmPortFrom, DemoOptions.Hosts, PortSearchWidth)
            ?? throw new UsageException($"--base-port {options.BasePort}: no port in {vmPortFrom}..{vmPortFrom + PortSearchWidth - 1} is free for UDP and TCP on all of {string.Join(", ", DemoOptions.Hosts)}");
        var places = DemoOptions.Hosts.Zip(ports, (host, port) => (Host: host.ToString(), Port: port)).ToList();
        var dashboards = DemoOptions.Hosts.Zip(httpPorts, (host, port) => $"http://{host}:{port}/").ToList();

        string folder = Directory.CreateTempSubdirectory("lockstep-demo-").FullName;
        using var cluster = new NodeCluster(NodeProgram(), folder, "sqlite:" + Path.Combine(folder, "lockstep.db"), events.Add,
            (node, info) =>
            {
                info.ArgumentList.Add("--http");
                info.ArgumentList.Add(httpPorts[node].ToString(System.Globalization.CultureInfo.InvariantCulture));
                return info;
            }, warmSerializers: true)
        {
            KeepFolder = options.Keep,
        };
        interrupt.OnCleanup(cluster.Dispose);
        output.WriteLine($"lockstep demo: {places.Count} nodes at {string.Join(", ", places.Select(p => $"{p.Host}:{p.Port}"))}, image {image}");
        output.WriteLine($"lockstep demo: the VM's front door is port {vmPort} of every node (UDP and TCP), e.g. `nc -u {DemoOptions.Hosts[1]} {vmPort}` and type `1 GET c1`");
        output.WriteLine($"lockstep demo: dashboard at {dashboards[0]} (every node serves one: {string.Join(", ", dashboards)})");
        output.WriteLine($"lockstep demo: working folder {folder}{(options.Keep ? " (kept: --keep)" : " (removed at the end)")}");
        output.Flush();

        // Akka writes its own warnings to Console.Out; they belong in the working folder, not across the demo's screen.
        var akkaLog = new StreamWriter(Path.Combine(folder, "client.log")) { AutoFlush = true };
        var consoleBefore = Console.Out;
        Console.SetOut(akkaLog);
        var view = new DemoView(output, live: !Console.IsOutputRedirected, _clock, events, cluster);
        DemoReport? report = null;
        try
        {
            view.Start();
            report = await RunWithViewAsync(cluster, places, vmPort, events, view, imageBytes, cancel);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested || interrupt.Reason is not null)
        {
        }
        finally
        {
            view.Dispose();
            Console.SetOut(consoleBefore);
            akkaLog.Dispose();
        }

        if (interrupt.Reason is { } reason)
        {
            output.WriteLine($"\nlockstep demo: interrupted ({reason}); nodes killed{(options.Keep ? "" : ", working folder removed")}");
            return DemoInterrupt.ExitCode;
        }
        if (report is null)
        {
            output.Flush();
            Console.Error.WriteLine($"lockstep demo: gave up after {limit.TotalSeconds:0} s, while {view.Phase}");
            return 1;
        }
        output.Write(report.Render());
        output.Flush();
        if (report.Passed) return ExitCodes.Success;
        foreach (string why in report.FailureReasons) Console.Error.WriteLine($"lockstep demo: check failed: {why}");
        if (options.Keep) Console.Error.WriteLine($"lockstep demo: node logs kept in {folder}");
        return 1;
    }

    /// <summary>The nodes run the very build of this program, from the temporary folder, where walking up would not find the repository's configuration.</summary>
    private static LockstepProgram NodeProgram() =>
        new(typeof(DemoScenario).Assembly.Location, HoconFolder.Find() is { } hocon ? Path.GetFullPath(hocon) : null);

    private async Task<DemoReport> RunWithViewAsync(NodeCluster cluster, IReadOnlyList<(string Host, int Port)> places, int vmPort, DemoEvents events,
        DemoView view, byte[] image, CancellationToken cancel)
    {
        view.Phase = "starting the nodes; waiting for them to form a cluster";
        try
        {
            await cluster.StartAsync(places, ClusterWait, cancel);
        }
        catch (ClusterStartException e)
        {
            throw new DemoAbortedException(e.Message);
        }
        view.Phase = "connecting to the cluster";
        using var client = await ConnectAsync(ContactPoints.Parse(NodeCluster.ContactOf(cluster.Nodes)), events, cancel);

        view.Phase = "creating the VM";
        await CreateVmAsync(client, image, vmPort, events, cancel);

        using var monitor = new DemoStatusMonitor(client, DemoOptions.VmName, _clock, events, cluster.Describe);
        monitor.Start();
        view.Monitor = monitor;
        view.Phase = "waiting for the VM to be Protected (primary and secondary on two nodes)";
        var first = await monitor.WaitForAsync(IsProtected, ProtectedWait, cancel);
        if (first is null)
            throw new DemoAbortedException($"{DemoOptions.VmName} was not Protected within {ProtectedWait.TotalSeconds:0} s (state {monitor.Latest?.State.ToString() ?? "unknown"})");

        view.Phase = $"waiting for every node's front door to listen on port {vmPort}";
        var doors = await FrontDoorsAsync(client, vmPort, events, cancel);
        using IDemoTransport transport = options.ViaCluster ? new DemoClusterTransport(client, DemoOptions.VmName, events) : new DemoDoorTransport(doors, events);
        var load = new DemoLoad(transport, _clock, events, DemoOptions.Clients, DemoOptions.GiveUp);
        view.Load = load;
        _timeline.LoadStartMs = _clock.NowMs;
        load.Start(cancel);
        try
        {
            await FailPrimaryAsync(cluster, monitor, events, view, cancel);
            if (!double.IsNaN(_timeline.ProtectedAgainAtMs)) await CheckReplicasAsync(client, events, view, cancel);
        }
        finally
        {
            view.Phase = "stopping the load (requests in flight are seen through)";
            await load.StopAsync();
            _timeline.LoadEndMs = _clock.NowMs;
        }
        cancel.ThrowIfCancellationRequested();
        events.Add($"load stopped: {load.Samples.Count:N0} requests answered");
        if (options.Keep) DemoRecord.Write(cluster.Folder, _clock, events.Since(0), load.Samples.Between(double.MinValue, double.MaxValue));

        view.Phase = "checking what the clients were told against the VM's state";
        var reader = new DemoPeer(ReaderPeer, transport, _clock, DemoOptions.GiveUp);
        var verifier = new DemoVerifier(reader);
        var report = new DemoReport();
        report.Add(DemoVerifier.Sequences(load.Peers, load.Acknowledged));
        report.Add(await verifier.CountersAsync(load.Peers, load.Acknowledged, cancel));
        report.Add(await verifier.PutsAsync(load.Acknowledged, cancel));
        report.Add(AnsweredCheck(load));
        foreach (var failure in _failures) report.Add(failure);
        var final = await FinalStatusAsync(monitor, cancel);
        report.Add(TakeoverCheck(final, cluster));
        report.Add(ReplicaCheck(final, cluster));
        report.Add(_replicaCheck ?? DemoCheck.Fail("primary and secondary state hashes agree",
            "no replica check was made (the VM was not Protected again)"));
        if (!double.IsNaN(_timeline.ProtectedAgainAtMs) &&
            DemoNodeLogs.ProtectedAfter(cluster.Nodes, DemoOptions.VmName, _timeline.GenerationBefore) is { } logged)
        {
            _timeline.ProtectedLoggedAtMs = _clock.MsAt(logged.AtUtc);
            _timeline.ProtectedLoggedBy = logged.Node.Endpoint;
        }
        string path = transport is DemoDoorTransport door
            ? $"{door.Describe()} ({door.Turns:N0} such resends); for {RequestPacer.LateCopyWindowMs} ms after a resend at most {RequestPacer.GuestMemory - 1} " +
              $"more requests a client ({load.PacedRequests:N0} requests held back for it)"
            : transport.Describe();
        report.AddFigures(path, transport is DemoDoorTransport ? "through the front door" : "through ClusterClient", _timeline, load, monitor.Samples(), final, cluster.Describe);
        events.Add("checks done");
        view.Phase = "done";
        return report;
    }

    /// <summary>The load runs, the primary's node is killed, and the demo follows the takeover and re-protection.</summary>
    private async Task FailPrimaryAsync(NodeCluster cluster, DemoStatusMonitor monitor, DemoEvents events, DemoView view,
        CancellationToken cancel)
    {
        double killAt = _clock.NowMs + options.LoadSeconds * 1000;
        while (_clock.NowMs < killAt)
        {
            view.Phase = $"load running; SIGKILL to the primary's node in {(killAt - _clock.NowMs) / 1000:0} s";
            await Task.Delay(250, cancel);
        }

        var before = monitor.Latest;
        var victim = cluster.Find(before?.Primary);
        if (before is null || victim is null || before.State != VmState.Protected)
        {
            _failures.Add(DemoCheck.Fail("the primary's node could be killed",
                $"no Protected primary on a demo node to kill (last status: {before?.State.ToString() ?? "none"}, primary {before?.Primary ?? "-"})"));
            return;
        }
        _timeline.GenerationBefore = before.Generation;
        _timeline.SecondaryBefore = before.Secondary;
        _timeline.KilledNode = victim.Endpoint;
        cluster.Kill(victim);
        _timeline.KillAtMs = _clock.NowMs;
        events.Add($"SIGKILL to node {victim.Label} ({victim.Endpoint}, pid {victim.Process.Id}), the primary's node");

        view.Phase = "primary's node killed; waiting for the secondary to take over";
        var takeover = await monitor.WaitForAsync(
            s => s.Generation > before.Generation && s.Primary is not null && s.Primary != victim.Endpoint, TakeoverWait, cancel);
        if (takeover is null)
        {
            _failures.Add(DemoCheck.Fail("a new primary took over",
                $"no new generation with a primary on a live node within {TakeoverWait.TotalSeconds:0} s of the kill"));
            return;
        }
        _timeline.TakeoverSeenAtMs = _clock.NowMs;

        view.Phase = $"new primary on {cluster.Describe(takeover.Primary)}; waiting for re-protection onto another node";
        var reprotected = await monitor.WaitForAsync(
            s => s.Generation > before.Generation && IsProtected(s) && s.Secondary != victim.Endpoint, ReprotectWait, cancel);
        if (reprotected is null)
        {
            _failures.Add(DemoCheck.Fail("the VM was Protected again",
                $"not Protected with a new secondary within {ReprotectWait.TotalSeconds:0} s of the kill (state {monitor.Latest?.State.ToString() ?? "unknown"})"));
            return;
        }
        _timeline.ProtectedAgainAtMs = _clock.NowMs;

        double endAt = _clock.NowMs + options.AfterSeconds * 1000;
        while (_clock.NowMs < endAt)
        {
            view.Phase = $"Protected again; load goes on for {(endAt - _clock.NowMs) / 1000:0} s more";
            await Task.Delay(250, cancel);
        }
    }

    /// <summary>
    /// While the load still runs (the check samples the guest between boundaries, which an idle
    /// guest never offers), the primary hashes its whole state and the new secondary hashes its
    /// own at the same instruction count.
    /// </summary>
    private async Task CheckReplicasAsync(ControlClient client, DemoEvents events, DemoView view, CancellationToken cancel)
    {
        const string name = "primary and secondary state hashes agree";
        view.Phase = "comparing the state hashes of the new primary and the new secondary";
        try
        {
            var reply = await Task.Run(() => client.Ask<object>(new CheckReplicas(DemoOptions.VmName), TimeSpan.FromSeconds(15)), cancel);
            _replicaCheck = reply switch
            {
                ReplicaCheck { Match: true } check => DemoCheck.Pass(name,
                    $"both 0x{check.PrimaryHash:x16} at instruction {check.Position:N0} (registers, devices and all 16 MiB of RAM)"),
                ReplicaCheck check => DemoCheck.Fail(name,
                    $"primary 0x{check.PrimaryHash:x16}, secondary 0x{check.SecondaryHash:x16} at instruction {check.Position:N0}"),
                ControlError error => DemoCheck.Fail(name, error.Message),
                _ => DemoCheck.Fail(name, $"unexpected reply {reply}"),
            };
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _replicaCheck = DemoCheck.Fail(name, e.Message);
        }
        events.Add($"replica check: {_replicaCheck.Detail}");
    }

    private DemoCheck? _replicaCheck;

    private static bool IsProtected(VmStatus status) =>
        status.State == VmState.Protected && status.Secondary is not null && status.Secondary != status.Primary;

    private async Task<ControlClient> ConnectAsync(ContactPoints contacts, DemoEvents events, CancellationToken cancel)
    {
        double until = _clock.NowMs + ClusterWait.TotalMilliseconds;
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            try
            {
                // Connect blocks while it probes; a pool thread keeps the view and the signals responsive.
                var client = await Task.Run(() => ControlClient.Connect(contacts), cancel).WaitAsync(cancel);
                events.Add($"client connected to the cluster through {contacts}");
                return client;
            }
            catch (ClusterUnavailableException) when (_clock.NowMs < until)
            {
                await Task.Delay(500, cancel);
            }
            catch (ClusterUnavailableException e)
            {
                throw new DemoAbortedException($"the nodes did not answer within {ClusterWait.TotalSeconds:0} s: {e.Message}");
            }
        }
    }

    private static async Task CreateVmAsync(ControlClient client, byte[] image, int vmPort, DemoEvents events, CancellationToken cancel)
    {
        for (int attempt = 1; ; attempt++)
        {
            cancel.ThrowIfCancellationRequested();
            try
            {
                // WaitAsync: an interrupt must not wait for the ask's own timeout.
                var ok = await Task.Run(() => client.Ask<ControlOk>(new CreateVm(DemoOptions.VmName, image, DemoOptions.MemorySize, [vmPort])), cancel)
                    .WaitAsync(cancel);
                events.Add(ok.Message);
                return;
            }
            catch (GatewayException e) when (e.Kind == ControlErrorKind.AlreadyExists && attempt > 1)
            {
                // An earlier attempt that timed out on our side did create it.
                return;
            }
            catch (ClusterUnavailableException e) when (attempt < 3)
            {
                events.Add($"creating the VM: {e.Message}; trying again");
            }
            catch (ClusterUnavailableException e)
            {
                throw new DemoAbortedException($"could not create the VM: {e.Message}");
            }
        }
    }

    /// <summary>Every node's address at the VM's port, once each node's front door reports its listener open (through the control plane).</summary>
    private async Task<IReadOnlyList<System.Net.IPEndPoint>> FrontDoorsAsync(ControlClient client, int vmPort, DemoEvents events, CancellationToken cancel)
    {
        double until = _clock.NowMs + ListenWait.TotalMilliseconds;
        while (true)
        {
            var exposure = await Task.Run(() => client.Ask<VmExposure>(new GetExposure(DemoOptions.VmName)), cancel).WaitAsync(cancel);
            var open = exposure.Listeners.Where(l => l.Port == vmPort && l.Open).Select(l => l.Host).ToHashSet();
            if (open.Count == DemoOptions.NodeCount)
            {
                events.Add($"every node listens on port {vmPort} for {DemoOptions.VmName}");
                return DemoOptions.Hosts.Select(h => new System.Net.IPEndPoint(h, vmPort)).ToList();
            }
            if (_clock.NowMs > until)
            {
                string problems = string.Join("; ", exposure.Listeners.Where(l => !l.Open).Select(l => $"{l.Host}: {l.Problem}"));
                throw new DemoAbortedException($"only {open.Count} of {DemoOptions.NodeCount} nodes listen on port {vmPort} after {ListenWait.TotalSeconds:0} s{(problems.Length > 0 ? ": " + problems : "")}");
            }
            await Task.Delay(200, cancel);
        }
    }

    /// <summary>A status taken after the load ended, so the figures describe the VM as it is now.</summary>
    private async Task<VmStatus?> FinalStatusAsync(DemoStatusMonitor monitor, CancellationToken cancel)
    {
        double after = _clock.NowMs;
        while (_clock.NowMs - after < 3000)
        {
            if (monitor.Samples().LastOrDefault() is { } last && last.AtMs > after) break;
            await Task.Delay(50, cancel);
        }
        return monitor.Latest;
    }

    private static DemoCheck AnsweredCheck(DemoLoad load)
    {
        const string name = "every request got its expected kind of answer";
        var problems = load.Acknowledged.Problems();
        return problems.Count == 0
            ? DemoCheck.Pass(name, "no request given up, no unexpected answer")
            : DemoCheck.Fail(name, string.Join("; ", problems.Take(3)));
    }

    private DemoCheck TakeoverCheck(VmStatus? final, NodeCluster cluster)
    {
        const string name = "the secondary took over when the primary's node died";
        if (double.IsNaN(_timeline.TakeoverSeenAtMs))
            return DemoCheck.Fail(name, "no takeover was seen");
        string seen = $"seen {(_timeline.TakeoverSeenAtMs - _timeline.KillAtMs) / 1000:0.0} s after the kill";
        var record = final?.History.LastOrDefault(h => h.Generation > _timeline.GenerationBefore && h.GapMs > 0);
        if (record is null) return DemoCheck.Fail(name, $"a new generation was {seen}, but the VM's history has no takeover record");
        if (record.TookOver != _timeline.SecondaryBefore)
            return DemoCheck.Fail(name, $"{cluster.Describe(record.TookOver)} took over, but the secondary was {cluster.Describe(_timeline.SecondaryBefore)}");
        return DemoCheck.Pass(name, $"{cluster.Describe(record.TookOver)} took over as generation {record.Generation}, {seen}");
    }

    private DemoCheck ReplicaCheck(VmStatus? final, NodeCluster cluster)
    {
        const string name = "replicas: Protected again with a secondary on a live node";
        if (final is null) return DemoCheck.Fail(name, "no status at the end");
        string where = $"state {final.State}, primary {cluster.Describe(final.Primary)}, secondary {cluster.Describe(final.Secondary)}, generation {final.Generation}";
        bool ok = IsProtected(final) && final.Secondary != _timeline.KilledNode && final.Generation > _timeline.GenerationBefore;
        return ok ? DemoCheck.Pass(name, $"{where}, vLockstep interval {final.LagMs:0.0} ms") : DemoCheck.Fail(name, where);
    }
}
