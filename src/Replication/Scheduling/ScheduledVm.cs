namespace Lockstep.Replication.Scheduling;

/// <summary>
/// One VM side (a primary or a secondary) as its <see cref="VmScheduler"/> sees it: a step function
/// and the scheduler's bookkeeping. The step runs on whichever VM thread takes the VM, never on two
/// at once, so what the step owns needs no lock; successive steps may run on different threads (the
/// scheduler's lock orders them).
/// </summary>
public sealed class ScheduledVm
{
    internal enum Phase { NotStarted, Idle, Queued, Running, RunningWoken, Finished }

    private readonly VmScheduler _scheduler;
    private readonly Func<VmStep> _step;

    internal ScheduledVm(VmScheduler scheduler, string name, Func<VmStep> step)
    {
        _scheduler = scheduler;
        Name = name;
        _step = step;
    }

    public string Name { get; }

    // Under the scheduler's lock.
    internal Phase State { get; set; } = Phase.NotStarted;

    /// <summary>The Stopwatch timestamp this VM sleeps until; 0 when it sleeps without one. Under the scheduler's lock.</summary>
    internal long Deadline { get; set; }

    private volatile Exception? _failure;

    /// <summary>What the step threw, if it did: the VM then never runs again (its owner should catch its own failures).</summary>
    public Exception? Failure { get => _failure; internal set => _failure = value; }

    /// <summary>Runnable from now on: its first step is queued. Only once; any thread.</summary>
    public void Start() => _scheduler.Start(this);

    /// <summary>
    /// Something arrived for the VM (a packet, a command, a frame): it runs soon, once, however often
    /// this is called before it does. Woken while its step runs, it runs again right after. Any thread;
    /// ignored before <see cref="Start"/> (the first step sees what came) and after it finished.
    /// </summary>
    public void Wake() => _scheduler.Wake(this);

    public bool IsFinished => _scheduler.IsFinished(this);

    internal VmStep Step() => _step();
}
