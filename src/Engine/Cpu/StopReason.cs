namespace Lockstep.Engine.Cpu;

/// <summary>Why <see cref="Machine.Run"/> returned.</summary>
public enum StopReason
{
    /// <summary>The slice's instruction budget is spent.</summary>
    Budget,
    /// <summary>The guest sleeps in wfi; nothing will happen until an input arrives or the timer fires.</summary>
    Waiting,
    /// <summary>The guest produced output (see <see cref="Machine.Outputs"/>).</summary>
    Output,
    /// <summary>The guest wrote the test finisher; see <see cref="Machine.ExitCode"/>.</summary>
    Halted,
    /// <summary>The guest took a trap with no handler; see <see cref="Machine.Fault"/>.</summary>
    Faulted,
    /// <summary>Replay reached the end of the log received so far.</summary>
    NeedLog,
}
