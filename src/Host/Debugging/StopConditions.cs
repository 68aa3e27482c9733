namespace Lockstep.Host.Debugging;

/// <summary>What a watchpoint reacts to (the GDB remote protocol's Z2, Z3 and Z4).</summary>
public enum WatchKind { Write, Read, Access }

public sealed record Watch(uint Address, uint Length, WatchKind Kind)
{
    public bool IsTriggeredBy(MemoryAccess access) =>
        access.Overlaps(Address, Length) && Kind switch
        {
            WatchKind.Write => access.IsStore,
            WatchKind.Read => !access.IsStore,
            _ => true,
        };
}

/// <summary>The breakpoints and watchpoints a debugger client has set.</summary>
public sealed class StopConditions
{
    public HashSet<uint> Breakpoints { get; } = [];
    public List<Watch> Watches { get; } = [];

    public bool IsEmpty => Breakpoints.Count == 0 && Watches.Count == 0;

    /// <summary>Only write watches: every hit shows in the dirty pages, so long stretches can run at full speed.</summary>
    public bool OnlyWriteWatches => Breakpoints.Count == 0 && Watches.Count > 0 && Watches.TrueForAll(w => w.Kind == WatchKind.Write);

    public Watch? WatchTriggeredBy(MemoryAccess access) => Watches.Find(w => w.IsTriggeredBy(access));
}

/// <summary>Why the timeline stopped moving.</summary>
public enum StopKind
{
    /// <summary>A step or a seek got where it was asked to.</summary>
    Arrived,
    Breakpoint,
    /// <summary>Forwards: the instruction at pc is about to make the access. Backwards: the instruction before pc made it.</summary>
    Watchpoint,
    /// <summary>The recorded history ends here (the log's end, a halt or a fault of the guest).</summary>
    HistoryEnd,
    HistoryBegin,
    /// <summary>A live guest halted or faulted.</summary>
    Exited,
    /// <summary>The client asked to stop (Ctrl-C).</summary>
    Interrupted,
}

public sealed record StopEvent(StopKind Kind, Watch? Watch = null, uint AccessAddress = 0)
{
    public static readonly StopEvent Arrived = new(StopKind.Arrived);
}
