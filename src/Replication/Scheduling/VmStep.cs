using System.Diagnostics;

namespace Lockstep.Replication.Scheduling;

/// <summary>What a VM asks for at the end of its step.</summary>
public enum VmStepKind
{
    /// <summary>Still has work: to the back of the run queue.</summary>
    RunAgain,

    /// <summary>Nothing to do before <see cref="VmStep.Until"/> unless woken earlier.</summary>
    Sleep,

    /// <summary>Nothing to do until woken.</summary>
    Wait,

    /// <summary>Never to run again.</summary>
    Finished,
}

/// <summary>The result of one step of a <see cref="ScheduledVm"/>.</summary>
/// <param name="Until">For <see cref="VmStepKind.Sleep"/>: a Stopwatch timestamp.</param>
public readonly record struct VmStep(VmStepKind Kind, long Until)
{
    public static VmStep RunAgain { get; } = new(VmStepKind.RunAgain, 0);
    public static VmStep Wait { get; } = new(VmStepKind.Wait, 0);
    public static VmStep Finished { get; } = new(VmStepKind.Finished, 0);

    public static VmStep SleepUntil(long timestamp) => new(VmStepKind.Sleep, timestamp);

    public static VmStep SleepFor(TimeSpan span) =>
        SleepUntil(Stopwatch.GetTimestamp() + (long)(span.TotalSeconds * Stopwatch.Frequency));
}
