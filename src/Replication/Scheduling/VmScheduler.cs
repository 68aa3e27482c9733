using System.Diagnostics;

namespace Lockstep.Replication.Scheduling;

/// <summary>
/// A node's VM threads: a fixed pool that runs every VM side of the node in steps, the way a
/// hypervisor schedules vCPUs. A VM is runnable when woken (<see cref="ScheduledVm.Wake"/>), when
/// its sleep deadline passes, or when its last step asked to run again; runnable VMs wait in one
/// FIFO queue, and one that ran goes to its back, so a guest that never idles gets a slice in turn
/// and no more. A VM that waits costs nothing until something makes it runnable: no thread polls.
/// </summary>
/// <remarks>
/// Wake-up latency: a VM woken while a VM thread is idle is handed to that thread at once (its own
/// event is set), so a packet for an idle VM costs one thread wake-up, as on a thread of its own.
/// Deadlines: the idle thread that last saw the earliest one (the timekeeper) sleeps until it; busy
/// threads look at the deadlines between steps, so with no thread idle a deadline waits for the end
/// of a step in progress. No thread is woken only to keep time: each extra wake-up per request was a
/// runnable thread more on a loaded 2-core machine, and showed as a 2 ms tail. Everything here is
/// under one lock, held only for queue and state changes, never during a step.
/// </remarks>
public sealed class VmScheduler : IDisposable
{
    /// <summary>How long <see cref="Dispose"/> lets the VM threads run what is queued (stop commands, mostly).</summary>
    public static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(2);

    private sealed class Worker(int index)
    {
        public readonly AutoResetEvent Signal = new(false);
        public readonly int Index = index;
        public Thread Thread = null!;
    }

    private readonly object _lock = new();
    private readonly Queue<ScheduledVm> _runnable = new();
    private readonly PriorityQueue<(ScheduledVm Vm, long Deadline), long> _timers = new();
    // Idle workers, the most recently idle last (its caches are the warmest).
    private readonly List<Worker> _idle = [];
    private readonly Worker[] _workers;
    private Worker? _timekeeper;
    private long _timekeeperUntil;
    private bool _stopping;
    private long _drainUntil;

    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is below 1.</exception>
    public VmScheduler(int threads, string name = "vm")
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "a VM scheduler needs at least one VM thread");
        _workers = new Worker[threads];
        for (int i = 0; i < threads; i++)
        {
            var worker = new Worker(i);
            worker.Thread = new Thread(() => Work(worker)) { IsBackground = true, Name = $"{name}-thread-{i}" };
            _workers[i] = worker;
        }
        foreach (var worker in _workers) worker.Thread.Start();
    }

    /// <summary>A VM for this scheduler, not runnable until its <see cref="ScheduledVm.Start"/>.</summary>
    /// <exception cref="ObjectDisposedException">The scheduler was disposed.</exception>
    public ScheduledVm Add(string name, Func<VmStep> step)
    {
        lock (_lock) ObjectDisposedException.ThrowIf(_stopping, this);
        return new ScheduledVm(this, name, step);
    }

    internal void Start(ScheduledVm vm)
    {
        Worker? signal;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stopping, this);
            if (vm.State != ScheduledVm.Phase.NotStarted) throw new InvalidOperationException($"{vm.Name} was started already");
            Enqueue(vm);
            signal = TakeIdle();
        }
        signal?.Signal.Set();
    }

    internal void Wake(ScheduledVm vm)
    {
        Worker? signal = null;
        lock (_lock)
        {
            switch (vm.State)
            {
                case ScheduledVm.Phase.Idle:
                    Enqueue(vm);
                    signal = TakeIdle();
                    break;
                case ScheduledVm.Phase.Running:
                    vm.State = ScheduledVm.Phase.RunningWoken;
                    break;
            }
        }
        signal?.Signal.Set();
    }

    internal bool IsFinished(ScheduledVm vm)
    {
        lock (_lock) return vm.State == ScheduledVm.Phase.Finished;
    }

    private void Enqueue(ScheduledVm vm)
    {
        vm.State = ScheduledVm.Phase.Queued;
        vm.Deadline = 0;
        _runnable.Enqueue(vm);
    }

    /// <summary>
    /// Removes an idle worker for the caller to signal (after the lock is released): the timekeeper only
    /// when no other is idle (it watches the deadlines).
    /// </summary>
    private Worker? TakeIdle()
    {
        if (_idle.Count == 0) return null;
        int at = _idle.Count - 1;
        if (_idle[at] == _timekeeper && at > 0) at--;
        var worker = _idle[at];
        _idle.RemoveAt(at);
        if (worker == _timekeeper) _timekeeper = null;
        return worker;
    }

    private void Work(Worker me)
    {
        while (true)
        {
            ScheduledVm? vm;
            Worker? signal = null;
            int waitMs = Timeout.Infinite;
            lock (_lock)
            {
                // Back from waiting (signalled or timed out): no longer idle, no longer the timekeeper.
                _idle.Remove(me);
                if (_timekeeper == me) _timekeeper = null;
                long now = Stopwatch.GetTimestamp();
                if (_stopping && (_runnable.Count == 0 || now >= _drainUntil)) return;
                if (!_stopping) FireDueTimers(now);
                if (_runnable.TryDequeue(out vm))
                {
                    vm.State = ScheduledVm.Phase.Running;
                    // More runnable VMs: wake another thread for them.
                    if (_runnable.Count > 0) signal = TakeIdle();
                }
                else
                {
                    _idle.Add(me);
                    DropStaleTimers();
                    // A deadline earlier than the one the timekeeper sleeps toward (this thread's last step
                    // set it, most likely): this thread keeps time now, without waking the other.
                    if (!_stopping && _timers.TryPeek(out _, out long earliest) && (_timekeeper is null || earliest < _timekeeperUntil))
                    {
                        _timekeeper = me;
                        _timekeeperUntil = earliest;
                        waitMs = MillisecondsUntil(earliest, now);
                    }
                }
            }
            if (vm is null)
            {
                me.Signal.WaitOne(waitMs);
                continue;
            }
            signal?.Signal.Set();
            VmStep step;
            try
            {
                step = vm.Step();
            }
            catch (Exception e)
            {
                // Nothing may escape a VM thread (it would end the process); this VM alone stops.
                vm.Failure = e;
                step = VmStep.Finished;
            }
            lock (_lock) AfterStep(vm, step);
        }
    }

    /// <summary>This thread looks at the queue and the deadlines next, so no other needs waking for what the step asked.</summary>
    private void AfterStep(ScheduledVm vm, VmStep step)
    {
        if (step.Kind == VmStepKind.Finished)
        {
            vm.State = ScheduledVm.Phase.Finished;
            return;
        }
        if (step.Kind == VmStepKind.RunAgain || vm.State == ScheduledVm.Phase.RunningWoken)
        {
            Enqueue(vm);
            return;
        }
        vm.State = ScheduledVm.Phase.Idle;
        vm.Deadline = step.Kind == VmStepKind.Sleep ? step.Until : 0;
        if (step.Kind == VmStepKind.Sleep) _timers.Enqueue((vm, step.Until), step.Until);
    }

    /// <summary>
    /// Drops the earliest entries of VMs woken or re-armed since (each step that sleeps adds one): a
    /// timekeeper sleeping toward one would wake for nothing, once per request.
    /// </summary>
    private void DropStaleTimers()
    {
        while (_timers.TryPeek(out var entry, out _) && !IsLive(entry)) _timers.Dequeue();
    }

    private static bool IsLive((ScheduledVm Vm, long Deadline) entry) =>
        entry.Vm.State == ScheduledVm.Phase.Idle && entry.Vm.Deadline == entry.Deadline;

    /// <summary>Makes runnable the VMs whose deadline passed; entries of VMs woken or re-armed since are dropped.</summary>
    private void FireDueTimers(long now)
    {
        while (_timers.TryPeek(out var entry, out long at) && at <= now)
        {
            _timers.Dequeue();
            if (IsLive(entry)) Enqueue(entry.Vm);
        }
    }

    private static int MillisecondsUntil(long timestamp, long now)
    {
        // Rounded up: a thread that woke before the deadline would only go back to sleep.
        double ms = Math.Ceiling((timestamp - now) * 1000.0 / Stopwatch.Frequency);
        return (int)Math.Clamp(ms, 1, int.MaxValue);
    }

    /// <summary>
    /// Stops the VM threads once what is queued has run (bounded by <see cref="DrainTimeout"/>), so that
    /// stop and kill commands posted just before still take effect; deadlines no longer fire.
    /// </summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_stopping) return;
            _stopping = true;
            _drainUntil = Stopwatch.GetTimestamp() + (long)(DrainTimeout.TotalSeconds * Stopwatch.Frequency);
        }
        foreach (var worker in _workers) worker.Signal.Set();
        foreach (var worker in _workers)
            if (worker.Thread != Thread.CurrentThread) worker.Thread.Join(DrainTimeout + TimeSpan.FromSeconds(1));
    }
}
