namespace Lockstep.Replication.FrontDoor;

/// <summary>
/// Keeps a late copy of a front-door datagram out of the guest once its client has gone on by more requests
/// than the guest remembers. A UDP client resends the same request to another node when an answer is slow,
/// so one request can be in flight through two doors; the copy through a stalled node (held after its door
/// had taken it: in that node's remoting, behind a starved thread) can reach the primary after the client was
/// answered through another door and sent <see cref="Window"/> more requests, when the guest's own
/// de-duplication (the kv guest's last 64 request ids per peer) no longer knows the id: it would run twice.
/// A door's age limit counts only the time in its own node, and no time limit can stand in for a count of
/// requests (a fast client sends 64 in a few milliseconds).
/// </summary>
/// <remarks>
/// Each datagram carries when the first node's kernel took it in (wall clock). A client that waits for an
/// answer before its next request sends every copy of a request before the first copy of the next, so the
/// first copy taken of each new request is later than everything taken for that peer before: a new maximum.
/// Once <see cref="Window"/> such maxima came after a copy's own moment, at least that many requests were
/// sent after it, and the copy is dropped (its client, if it still waits, resends). Comparing moments from
/// two nodes' clocks is as good as their synchronisation (one machine: exact); a wall clock stepped back
/// makes that peer's datagrams look late until it passes its old reading again (a pause, not a loss: its
/// client resends). A new primary starts with no maxima (not replicated): the gap after a takeover stays.
/// Used by one actor only.
/// </remarks>
public sealed class LateDatagrams
{
    /// <summary>Requests a client may go on by before its older copies are late: the kv guest's request ids per peer.</summary>
    public const int Window = 64;

    /// <summary>Peers remembered; the least recently heard is forgotten beyond this.</summary>
    public const int MaxPeers = 4096;

    private sealed class Peer
    {
        public readonly Queue<long> Maxima = new();
        public long Newest;
        public long Heard;
    }

    private readonly Dictionary<uint, Peer> _peers = [];
    private long _clock;

    /// <summary>Late copies dropped so far.</summary>
    public long Dropped { get; private set; }

    /// <summary>
    /// True when the datagram may go to the guest. <paramref name="arrivedTicks"/>: UTC ticks when the first
    /// node's kernel took it in; zero or less is unknown (always admitted).
    /// </summary>
    public bool Admit(uint peer, long arrivedTicks)
    {
        if (arrivedTicks <= 0) return true;
        if (!_peers.TryGetValue(peer, out var state))
        {
            if (_peers.Count >= MaxPeers) _peers.Remove(_peers.MinBy(kv => kv.Value.Heard).Key);
            _peers[peer] = state = new Peer();
        }
        state.Heard = ++_clock;
        if (state.Maxima.Count == 0 || arrivedTicks > state.Newest)
        {
            state.Newest = arrivedTicks;
            state.Maxima.Enqueue(arrivedTicks);
            if (state.Maxima.Count > Window) state.Maxima.Dequeue();
            return true;
        }
        if (state.Maxima.Count == Window && arrivedTicks < state.Maxima.Peek())
        {
            Dropped++;
            return false;
        }
        return true;
    }
}
