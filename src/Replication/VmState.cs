namespace Lockstep.Replication;

/// <summary>A VM's state as operators see it (`vm status`); decided by its actors, never parsed from text.</summary>
public enum VmState
{
    /// <summary>Placed, no live primary yet (booting, rebuilding from the journal, or claiming its generation).</summary>
    Starting,
    /// <summary>Running without a secondary that holds its state: alone, attaching one, or claiming after losing one.</summary>
    NotProtected,
    /// <summary>Running, with a secondary that holds the state and acknowledges the log.</summary>
    Protected,
    /// <summary>Running alone because the operator turned fault tolerance off (not a fault).</summary>
    Unprotected,
    /// <summary>Running alone because the operator suspended protection (not a fault; resuming brings a secondary back).</summary>
    Suspended,
    /// <summary>The guest ended (test finisher); the exit code is in the detail.</summary>
    Halted,
    /// <summary>The guest faulted, or the runtime failed; the detail says where.</summary>
    Faulted,
}
