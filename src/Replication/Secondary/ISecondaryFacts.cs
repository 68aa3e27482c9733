using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Secondary;

/// <summary>
/// What a <see cref="ReplayLoop"/> reports. Facts only: whether to claim and go live is decided by
/// whoever implements this, the secondary executor actor in a node. Called on the loop's threads.
/// </summary>
public interface ISecondaryFacts
{
    /// <summary>The snapshot from the primary is restored: this side holds the state and replays the log.</summary>
    void InSync();

    /// <summary>
    /// The channel to a primary whose state this side holds ended without a goodbye. Everything received
    /// has been replayed; the loop has ended and <paramref name="takeover"/>'s machine belongs to the receiver.
    /// </summary>
    void PrimaryLost(CloseReason reason, string detail, Takeover takeover);

    /// <summary>
    /// The primary handed over (a planned switchover): replayed to where it stopped, with every output released. The
    /// machine in <paramref name="takeover"/> belongs to the receiver, which claims the next generation and then calls
    /// <see cref="ReplayLoop.ConfirmTakeover"/> (or <see cref="ReplayLoop.Stop"/> to let the old primary serve on).
    /// </summary>
    void HandedOver(Takeover takeover);

    /// <summary>The loop ended with nothing to take over: a goodbye, no primary ever connected, lost before the snapshot, or a failure.</summary>
    void Ended(CloseReason? reason, string detail);

    /// <summary>An open of this VM's channel with a wrong token was refused (the link it came on lives on); still waiting.</summary>
    void Refused(CloseReason reason, string detail);
}
