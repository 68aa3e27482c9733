namespace Lockstep.Replication.Channel;

/// <summary>Why a lockstep channel ended: what the sides decide on. The text beside it is for people only.</summary>
public enum CloseReason
{
    /// <summary>The peer's connection was reset: its process died (a kill -9 resets at once).</summary>
    PeerReset,
    /// <summary>The peer closed its end without a goodbye.</summary>
    PeerClosed,
    /// <summary>The peer ended the channel in good order (VM stopped, secondary dismissed).</summary>
    PeerSaidGoodbye,
    /// <summary>This side said goodbye.</summary>
    SaidGoodbye,
    /// <summary>Nothing came from the peer for longer than the heartbeat timeout: frozen, or cut off.</summary>
    Silent,
    /// <summary>A write failed or timed out (a peer that stopped reading).</summary>
    SendFailed,
    /// <summary>Another connection error (unreachable, aborted).</summary>
    ConnectionLost,
    /// <summary>The peer sent something that does not decode.</summary>
    Malformed,
    /// <summary>The first frame was not a hello with this attach's token.</summary>
    Unauthenticated,
    /// <summary>This side closed it: stopped, killed for a test failover, or replaced.</summary>
    Local,
}

public static class CloseReasons
{
    /// <summary>The peer's process is gone or let go in good order: no reason to wait before going on alone.</summary>
    public static bool PeerIsGone(this CloseReason reason) =>
        reason is CloseReason.PeerReset or CloseReason.PeerClosed or CloseReason.PeerSaidGoodbye or CloseReason.SaidGoodbye or CloseReason.Local;
}
