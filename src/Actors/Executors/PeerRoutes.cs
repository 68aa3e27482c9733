using Akka.Actor;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Executors;

/// <summary>
/// Which client actor gets each peer's released packets (a `vm send`, a front door), and the packets
/// kept for a peer nobody listens for yet (right after a failover the client's next request
/// registers it). Used by one actor only.
/// </summary>
internal sealed class PeerRoutes
{
    private const int MaxBufferedPerPeer = 1024;

    /// <summary>Packets kept for peers without a route, over all of them: the guest picks the peer numbers, so a cap per peer alone bounds nothing.</summary>
    public const int MaxBuffered = 8192;

    private int _buffered;

    /// <summary>Packets for peers without a route that were dropped (over a cap) rather than kept.</summary>
    public long Dropped { get; private set; }

    private readonly Dictionary<uint, IActorRef> _clients = [];
    private readonly Dictionary<uint, Queue<VmPacket>> _undelivered = [];

    /// <summary>Makes <paramref name="client"/> the peer's route and hands it what waited; true when it is a new client to watch.</summary>
    public bool Register(uint peer, IActorRef client)
    {
        bool changed = !_clients.TryGetValue(peer, out var known) || !known.Equals(client);
        _clients[peer] = client;
        if (_undelivered.Remove(peer, out var waiting))
        {
            _buffered -= waiting.Count;
            foreach (var packet in waiting) client.Tell(packet);
        }
        return changed;
    }

    public void Route(VmPacket packet)
    {
        if (_clients.TryGetValue(packet.Peer, out var client))
        {
            client.Tell(packet);
            return;
        }
        if (_buffered >= MaxBuffered && !_undelivered.ContainsKey(packet.Peer))
        {
            Dropped++;
            return;
        }
        if (!_undelivered.TryGetValue(packet.Peer, out var queue)) _undelivered[packet.Peer] = queue = new Queue<VmPacket>();
        queue.Enqueue(packet);
        _buffered++;
        // The oldest go first: of a peer's own, or (over the cap for all) of this peer's.
        while (queue.Count > MaxBufferedPerPeer || (_buffered > MaxBuffered && queue.Count > 0))
        {
            queue.Dequeue();
            _buffered--;
            Dropped++;
        }
        if (queue.Count == 0) _undelivered.Remove(packet.Peer);
    }

    /// <summary>Tells the peer's client <paramref name="message"/>; false when the peer has no client now.</summary>
    public bool Notify(uint peer, object message)
    {
        if (!_clients.TryGetValue(peer, out var client)) return false;
        client.Tell(message);
        return true;
    }

    /// <summary>A client actor is gone: its peers have no route until a client registers them again.</summary>
    public void Forget(IActorRef client)
    {
        foreach (uint peer in _clients.Where(kv => kv.Value.Equals(client)).Select(kv => kv.Key).ToList()) _clients.Remove(peer);
    }

    /// <summary>The peer itself is gone (a closed connection): its route and what waited for it go, if <paramref name="client"/> still holds it.</summary>
    public void Forget(uint peer, IActorRef client)
    {
        if (!_clients.TryGetValue(peer, out var known) || !known.Equals(client)) return;
        _clients.Remove(peer);
        if (_undelivered.Remove(peer, out var waiting)) _buffered -= waiting.Count;
    }
}
