using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Lockstep.Actors.Placement;
using Lockstep.Actors.Protocol;
using Lockstep.Replication.FrontDoor;

namespace Lockstep.Actors.FrontDoor;

/// <summary>
/// One VM's port on this node, UDP and TCP (<see cref="UdpDoor"/>, <see cref="TcpDoor"/>: they report, this
/// actor decides). Each client is a guest peer (<see cref="PeerIds"/>); its packets go straight to the
/// VM's live primary as known from the primaries' announcements (made when a primary goes live: a takeover
/// is pushed here at once), with this actor as the sender, so the primary routes that peer's released outputs back here.
/// It keeps each TCP connection's packets not yet answered (one answer per packet, oldest first: the
/// request/answer shape of the guests we run) and sends them again to a new primary as soon as its announcement
/// arrives; without a route (before the first announcement, or once DeathWatch saw the primary die) packets go
/// through the gateway and this actor asks for the route (<see cref="LocatePrimary"/>); the guest
/// de-duplicates them by request id, as it does a client's own resends. UDP clients resend themselves; a datagram that waited
/// longer than <see cref="FrontDoorSettings.MaxDatagramAge"/> in this node (its socket held it while the node was stalled) is
/// dropped, since its client resent it long ago. Repeats of an answer (a new primary resends outputs
/// whose release it cannot prove) are dropped by output sequence number.
/// </summary>
public sealed class ExposedPort : ReceiveActor, IDoorFacts, IWithTimers
{
    /// <param name="ArrivedAt">When the node's kernel took it in (a Stopwatch timestamp).</param>
    private sealed record DatagramIn(IPEndPoint Client, byte[] Data, long ArrivedAt);
    private sealed record DatagramOversized(IPEndPoint Client, int Length);
    private sealed record ConnectionOpened(long Connection, IPEndPoint Client);
    private sealed record ConnectionRefusedFact(IPEndPoint Client, int Limit);
    private sealed record ReportRefused;
    private sealed record LineIn(long Connection, byte[] Data);
    private sealed record LineOversized(long Connection);
    private sealed record ConnectionClosed(long Connection, string Why);
    private sealed record ConnectionReadEnded(long Connection);
    private sealed record DrainOver(long Connection);
    private sealed record AnswerWriteFailed(long Connection, uint Peer, string Why);
    private sealed record WriterFinished(long Connection);
    private sealed record CloseNow(long Connection);
    private sealed record DoorBroke(string What, string Why);
    private sealed record TryOpen;
    private sealed record ResendNow;
    private sealed record ReportStale;
    private sealed record ReportDrops;
    private sealed record ArmDropReport;

    /// <summary>Datagrams read from the port and not yet handled here; beyond it they are dropped (a flood must not grow this node's memory).</summary>
    public const int MaxQueuedDatagrams = 4096;
    /// <summary>Packets sent to the primary (or the gateway) and not yet taken there (its ControlOk); beyond it they are dropped, for the primary's mailbox too must stay bounded.</summary>
    public const int MaxUntaken = 1024;
    /// <summary>Untaken packets are forgotten when nothing was taken for this long (answers lost with a primary, or through the gateway).</summary>
    private static readonly TimeSpan UntakenExpiry = TimeSpan.FromSeconds(1);
    /// <summary>Packets kept per peer for a new primary; the kv guest remembers as many request ids per peer.</summary>
    private const int MaxInFlightPerPeer = 64;
    /// <summary>Datagram clients remembered (least recently heard forgotten beyond this).</summary>
    private const int MaxDatagramPeers = 4096;
    private static readonly TimeSpan UnavailableRetry = TimeSpan.FromMilliseconds(250);
    /// <summary>At most one ask for the route in this time while there is none.</summary>
    private static readonly TimeSpan LocateInterval = TimeSpan.FromMilliseconds(250);
    /// <summary>How long a connection whose client stopped sending stays open for answers still due.</summary>
    private static readonly TimeSpan DrainWait = TimeSpan.FromSeconds(10);
    /// <summary>How long a connection this node ends stays open after its last line, for the client to read it.</summary>
    private static readonly TimeSpan LastLineGrace = TimeSpan.FromSeconds(1);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _vm;
    private readonly int _port;
    private readonly IPAddress _host;
    private readonly FrontDoorSettings _settings;
    private readonly IActorRef _gateway;
    private readonly long _incarnation;
    private readonly IActorRef _self;
    private readonly string _node;
    private UdpDoor? _udp;
    private TcpDoor? _tcp;
    private string? _problem;
    private bool _opened;

    private readonly Dictionary<uint, (IPEndPoint Client, long Heard)> _datagramPeers = [];
    private readonly Dictionary<long, uint> _connectionPeers = [];
    private readonly Dictionary<uint, long> _peerConnections = [];
    private readonly HashSet<long> _draining = [];
    private readonly Dictionary<long, ConnectionWriter> _writers = [];
    private readonly Dictionary<uint, Queue<byte[]>> _inFlight = [];
    private readonly Dictionary<uint, ulong> _lastSeq = [];
    private PrimaryAnnounce? _primary;
    private DateTime _lastLocate = DateTime.MinValue;
    private long _clock;
    private int _staleDropped;
    private int _queuedDatagrams; // touched by the UDP door's thread too
    private long _floodDropped; // touched by the UDP door's thread too
    private long _floodReported;
    private int _dropReportArmed; // touched by the UDP door's thread too
    private int _untaken;
    private long _lastTaken = Stopwatch.GetTimestamp();
    private long _refusedConnections;
    private int _refusedSinceReport;
    // When the route last changed, until the first answer after it (a Stopwatch timestamp): the log times a takeover's last step with it.
    private long? _routeChangedAt;

    public ITimerScheduler Timers { get; set; } = null!;

    public ExposedPort(string vm, int port, IPAddress host, FrontDoorSettings settings, IActorRef gateway, long incarnation)
    {
        _vm = vm;
        _port = port;
        _host = host;
        _settings = settings;
        _gateway = gateway;
        _incarnation = incarnation;
        _self = Self;
        _node = NodePicker.Describe(Cluster.Get(Context.System).SelfAddress);

        Receive<TryOpen>(_ => Open());
        Receive<DoorBroke>(broke =>
        {
            _log.Warning("front door {0} port {1}: the {2} listener failed: {3}; opening it again", _vm, _port, broke.What, broke.Why);
            if (broke.What == "udp") { _udp?.Dispose(); _udp = null; }
            else { _tcp?.Dispose(); _tcp = null; AbandonWriters(); }
            Open();
        });
        Receive<DatagramIn>(d =>
        {
            Interlocked.Decrement(ref _queuedDatagrams);
            if (Stopwatch.GetElapsedTime(d.ArrivedAt) > _settings.MaxDatagramAge)
            {
                DropStale();
                return;
            }
            uint peer = PeerIds.ForDatagram(_port, d.Client);
            _datagramPeers[peer] = (d.Client, ++_clock);
            if (_datagramPeers.Count > MaxDatagramPeers) Forget(_datagramPeers.MinBy(kv => kv.Value.Heard).Key);
            // The wall clock's reading at the kernel's arrival: the primary compares it across doors (LateDatagrams).
            Forward(peer, d.Data, DateTime.UtcNow.Ticks - Stopwatch.GetElapsedTime(d.ArrivedAt).Ticks);
        });
        Receive<DatagramOversized>(d =>
        {
            _log.Warning("front door {0} port {1}: refused a datagram of {2} bytes from {3} (limit {4})", _vm, _port, d.Length, d.Client, _settings.MaxPacket);
            _udp?.Send(d.Client, Encoding.UTF8.GetBytes($"ERROR lockstep: datagram of {d.Length} bytes refused, the limit is {_settings.MaxPacket} bytes"));
        });
        Receive<ConnectionOpened>(c =>
        {
            if (_tcp is null) return;
            uint peer = PeerIds.ForConnection(_tcp.LocalEndPoint, c.Client, c.Connection, _incarnation);
            _connectionPeers[c.Connection] = peer;
            _peerConnections[peer] = c.Connection;
        });
        Receive<ConnectionRefusedFact>(r =>
        {
            _refusedConnections++;
            if (_refusedSinceReport++ == 0)
            {
                _log.Warning("front door {0} port {1}: refused a TCP connection from {2}: {3} are open, the limit (lockstep.front-door.max-connections)",
                    _vm, _port, r.Client, r.Limit);
                Timers.StartSingleTimer("refused", new ReportRefused(), TimeSpan.FromSeconds(1));
                ReportState();
            }
        });
        Receive<ReportRefused>(_ =>
        {
            if (_refusedSinceReport > 1) _log.Warning("front door {0} port {1}: refused {2} more TCP connections (too many open)", _vm, _port, _refusedSinceReport - 1);
            _refusedSinceReport = 0;
            ReportState();
        });
        Receive<LineIn>(l =>
        {
            if (_connectionPeers.TryGetValue(l.Connection, out uint peer)) Forward(peer, l.Data);
        });
        Receive<LineOversized>(l =>
        {
            _log.Warning("front door {0} port {1}: refused a line longer than {2} bytes on connection {3}", _vm, _port, _settings.MaxPacket, l.Connection);
            if (_connectionPeers.TryGetValue(l.Connection, out uint peer))
                WriterFor(l.Connection, peer)?.Offer(Encoding.UTF8.GetBytes($"ERROR lockstep: line longer than {_settings.MaxPacket} bytes refused"));
        });
        Receive<ConnectionClosed>(c =>
        {
            _draining.Remove(c.Connection);
            if (_writers.Remove(c.Connection, out var writer)) writer.Abandon();
            if (_connectionPeers.Remove(c.Connection, out uint peer)) Forget(peer);
        });
        Receive<ConnectionReadEnded>(c =>
        {
            if (!_connectionPeers.TryGetValue(c.Connection, out uint peer)) return;
            _draining.Add(c.Connection);
            if (InFlight(peer) == 0) CloseConnection(c.Connection);
            else Timers.StartSingleTimer($"drain-{c.Connection}", new DrainOver(c.Connection), DrainWait);
        });
        Receive<DrainOver>(d =>
        {
            if (_draining.Contains(d.Connection)) CloseConnection(d.Connection);
        });
        Receive<AnswerWriteFailed>(f =>
        {
            _writers.Remove(f.Connection);
            _log.Info("front door {0} port {1}: an answer to peer {2} was not delivered: {3}", _vm, _port, f.Peer, f.Why);
        });
        // Closed a moment after its last line: closing with the client's bytes unread resets the connection, and the client
        // could lose that line (an error line, most often); the door's reader goes on taking them meanwhile.
        Receive<WriterFinished>(f => Timers.StartSingleTimer($"close-{f.Connection}", new CloseNow(f.Connection), LastLineGrace));
        Receive<CloseNow>(c =>
        {
            _writers.Remove(c.Connection);
            _tcp?.Close(c.Connection);
        });
        Receive<VmPacket>(OnAnswer);
        Receive<OutputsLost>(OnOutputsLost);
        Receive<PrimaryAnnounce>(OnAnnounce);
        Receive<Terminated>(t =>
        {
            if (_primary is null || !t.ActorRef.Equals(_primary.Executor)) return;
            _primary = null;
            _untaken = 0; // what it had not taken died with it
            Locate();
        });
        Receive<ControlOk>(_ => Taken());
        Receive<ControlError>(e =>
        {
            Taken();
            if (e.Kind == ControlErrorKind.Unavailable) Timers.StartSingleTimer("resend", new ResendNow(), UnavailableRetry);
            else _log.Warning("front door {0} port {1}: a packet was refused: {2}", _vm, _port, e.Message);
        });
        Receive<ResendNow>(_ => ResendInFlight());
        Receive<ReportStale>(_ =>
        {
            _log.Warning("front door {0} port {1}: dropped {2} datagrams that waited more than {3} ms in this node (stalled?); their clients resend",
                _vm, _port, _staleDropped, _settings.MaxDatagramAge.TotalMilliseconds);
            _staleDropped = 0;
        });
        Receive<ArmDropReport>(_ => Timers.StartSingleTimer("drops", new ReportDrops(), TimeSpan.FromSeconds(1)));
        Receive<ReportDrops>(_ =>
        {
            Volatile.Write(ref _dropReportArmed, 0); // drops from here on arm the next report
            long dropped = Interlocked.Read(ref _floodDropped);
            _log.Warning("front door {0} port {1}: {2} packets dropped in the last second, {3} since the port opened (a client sends faster than the VM takes them)",
                _vm, _port, dropped - _floodReported, dropped);
            _floodReported = dropped;
            _primary?.Executor.Tell(new DoorDrops(_vm, _node, _port, dropped));
        });
    }

    public static Props Props(string vm, int port, IPAddress host, FrontDoorSettings settings, IActorRef gateway, long incarnation) =>
        Akka.Actor.Props.Create(() => new ExposedPort(vm, port, host, settings, gateway, incarnation));

    protected override void PreStart()
    {
        Locate(); // the primary may have announced itself before this port was opened
        Open();
    }

    protected override void PostStop()
    {
        AbandonWriters();
        _udp?.Dispose();
        _tcp?.Dispose();
    }

    /// <summary>Opens what is not open yet; a port that cannot be bound is reported and tried again later, the node goes on.</summary>
    private void Open()
    {
        var problems = new List<string>();
        if (_udp is null)
        {
            try
            {
                _udp = new UdpDoor(_host, _port, _settings.MaxPacket, this);
                _udp.Start();
            }
            catch (SocketException e)
            {
                problems.Add($"UDP {_host}:{_port}: {e.Message}");
            }
        }
        if (_tcp is null)
        {
            try
            {
                _tcp = new TcpDoor(_host, _port, _settings.MaxPacket, this, _settings.MaxConnections);
                _tcp.Start();
            }
            catch (SocketException e)
            {
                problems.Add($"TCP {_host}:{_port}: {e.Message}");
            }
        }
        string? problem = problems.Count == 0 ? null : string.Join("; ", problems);
        if (problem is not null)
        {
            if (problem != _problem)
                _log.Error("front door {0}: cannot listen on port {1}: {2}; trying again every {3} s", _vm, _port, problem, _settings.RetryBind.TotalSeconds);
            Timers.StartSingleTimer("open", new TryOpen(), _settings.RetryBind);
        }
        else if (_problem is not null || !_opened)
        {
            _log.Info("front door {0}: listening on {1}:{2} (UDP and TCP)", _vm, _host, _port);
        }
        _opened = problem is null;
        _problem = problem;
        ReportState();
    }

    private void ReportState() =>
        Context.Parent.Tell(new FrontDoor.ListenerChanged(_vm, new ListenerState(_node, _host.ToString(), _port, _problem is null, _problem, _refusedConnections)));

    /// <param name="arrivedAt">A datagram's arrival, UTC ticks (0 for a connection's line).</param>
    private void Forward(uint peer, byte[] data, long arrivedAt = 0)
    {
        // Only a connection's packets are kept: a UDP client resends on its own (to any node), and a copy
        // kept here after the client moved to another node could reach a new primary long after its answer,
        // when the guest has forgotten the request id.
        if (PeerIds.IsConnectionPeer(peer))
        {
            if (!_inFlight.TryGetValue(peer, out var queue)) _inFlight[peer] = queue = new Queue<byte[]>();
            queue.Enqueue(data);
            while (queue.Count > MaxInFlightPerPeer) queue.Dequeue();
        }
        Send(peer, data, arrivedAt);
    }

    private void Send(uint peer, byte[] data, long arrivedAt = 0)
    {
        if (_primary is null) Locate();
        if (_untaken >= MaxUntaken)
        {
            if (Stopwatch.GetElapsedTime(_lastTaken) < UntakenExpiry)
            {
                CountFloodDrop();
                return;
            }
            _untaken = 0; // their answers were lost (a primary died with them): not a flood
        }
        if (_untaken++ == 0) _lastTaken = Stopwatch.GetTimestamp();
        (_primary?.Executor ?? _gateway).Tell(new SendPacket(_vm, peer, data, ArrivedAt: arrivedAt), Self);
    }

    private void Taken()
    {
        if (_untaken > 0) _untaken--;
        _lastTaken = Stopwatch.GetTimestamp();
    }

    /// <summary>Counted, logged and told to the primary once a second while a flood lasts; called on the UDP door's thread too.</summary>
    private void CountFloodDrop()
    {
        Interlocked.Increment(ref _floodDropped);
        if (Interlocked.Exchange(ref _dropReportArmed, 1) == 0) _self.Tell(new ArmDropReport());
    }

    private void Locate()
    {
        var now = DateTime.UtcNow;
        if (now - _lastLocate < LocateInterval) return;
        _lastLocate = now;
        _gateway.Tell(new LocatePrimary(_vm), Self);
    }

    private void ResendInFlight()
    {
        foreach (var (peer, queue) in _inFlight)
            foreach (var data in queue) Send(peer, data);
    }

    private void OnAnnounce(PrimaryAnnounce announce)
    {
        if (announce.Name != _vm) return;
        if (_primary is not null && (announce.Generation < _primary.Generation || announce.Executor.Equals(_primary.Executor))) return;
        if (_primary is not null) Context.Unwatch(_primary.Executor);
        bool changed = _primary is not null;
        if (changed) _untaken = 0; // the old primary's ControlOks may never come
        _primary = announce;
        Context.Watch(announce.Executor);
        if (changed)
        {
            _log.Info("front door {0} port {1}: routing to the primary on {2} (generation {3})", _vm, _port, announce.Node, announce.Generation);
            _routeChangedAt = Stopwatch.GetTimestamp();
        }
        // What the old primary had not answered may have died with it; the new one gets it again (the guest drops repeats).
        if (changed || _inFlight.Count > 0) ResendInFlight();
    }

    private void OnAnswer(VmPacket packet)
    {
        if (packet.Name != _vm) return;
        if (_lastSeq.TryGetValue(packet.Peer, out ulong last) && packet.Seq <= last) return; // a repeat after a takeover
        _lastSeq[packet.Peer] = packet.Seq;
        if (_inFlight.TryGetValue(packet.Peer, out var queue) && queue.Count > 0) queue.Dequeue();
        string? failed = null;
        if (_peerConnections.TryGetValue(packet.Peer, out long connection))
        {
            if (_tcp is null) failed = "TCP listener closed";
            else if (WriterFor(connection, packet.Peer) is { } writer && !writer.Offer(packet.Data))
            {
                _log.Warning("front door {0} port {1}: TCP connection {2} left {3} answers unread; closing it", _vm, _port, connection, ConnectionWriter.MaxUnwritten);
                CloseConnection(connection, $"ERROR lockstep: answers to this connection were lost: it left {ConnectionWriter.MaxUnwritten} unread; closing it");
                return;
            }
        }
        else if (_datagramPeers.TryGetValue(packet.Peer, out var client)) failed = _udp is null ? "UDP listener closed" : _udp.Send(client.Client, packet.Data);
        else return; // a connection that closed meanwhile
        if (failed is not null) _log.Info("front door {0} port {1}: an answer to peer {2} was not delivered: {3}", _vm, _port, packet.Peer, failed);
        else if (_routeChangedAt is { } changedAt)
        {
            _routeChangedAt = null;
            _log.Info("front door {0} port {1}: the first answer through the new route left {2:F1} ms after it", _vm, _port, Stopwatch.GetElapsedTime(changedAt).TotalMilliseconds);
        }
        if (_draining.Contains(connection) && InFlight(packet.Peer) == 0) CloseConnection(connection);
    }

    /// <summary>
    /// Answers to this peer were dropped in the primary's node: a TCP client would wait for them forever (it never resends), so
    /// it is told in an error line and its connection closed; a UDP client resends on its own.
    /// </summary>
    private void OnOutputsLost(OutputsLost lost)
    {
        if (lost.Name != _vm) return;
        if (_peerConnections.TryGetValue(lost.Peer, out long connection))
        {
            _log.Warning("front door {0} port {1}: {2} answers to TCP connection {3} were dropped in the primary's node (overloaded); closing it",
                _vm, _port, lost.Count, connection);
            CloseConnection(connection, $"ERROR lockstep: {lost.Count} answers to this connection were lost (the VM's node is overloaded); closing it");
        }
        else if (_datagramPeers.ContainsKey(lost.Peer))
            _log.Info("front door {0} port {1}: {2} answers to a UDP client were dropped in the primary's node (overloaded); the client resends", _vm, _port, lost.Count);
    }

    /// <summary>Counted, and logged once for a burst (a stall leaves many in the socket).</summary>
    private void DropStale()
    {
        if (_staleDropped++ == 0) Timers.StartSingleTimer("stale", new ReportStale(), TimeSpan.FromSeconds(1));
    }

    private int InFlight(uint peer) => _inFlight.TryGetValue(peer, out var queue) ? queue.Count : 0;

    private void AbandonWriters()
    {
        foreach (var writer in _writers.Values) writer.Abandon();
        _writers.Clear();
    }

    /// <summary>The connection's writer, started on its first answer; null without a listener.</summary>
    private ConnectionWriter? WriterFor(long connection, uint peer)
    {
        if (_writers.TryGetValue(connection, out var writer)) return writer;
        if (_tcp is null) return null;
        return _writers[connection] = new ConnectionWriter(_tcp, connection,
            why => _self.Tell(new AnswerWriteFailed(connection, peer, why)), () => _self.Tell(new WriterFinished(connection)));
    }

    /// <summary>Closes once the answers written to it so far are out, then <paramref name="lastLine"/> if given.</summary>
    private void CloseConnection(long connection, string? lastLine = null)
    {
        var writer = _writers.GetValueOrDefault(connection);
        if (writer is null && lastLine is not null && _connectionPeers.TryGetValue(connection, out uint owner)) writer = WriterFor(connection, owner);
        if (writer is not null) writer.Finish(lastLine is null ? null : Encoding.UTF8.GetBytes(lastLine)); // it closes the connection when done
        else _tcp?.Close(connection);
        _draining.Remove(connection);
        Timers.Cancel($"drain-{connection}");
        if (_connectionPeers.Remove(connection, out uint peer)) Forget(peer);
    }

    private void Forget(uint peer)
    {
        _primary?.Executor.Tell(new PeerClosed(_vm, peer));
        _datagramPeers.Remove(peer);
        if (_peerConnections.Remove(peer, out long connection)) _connectionPeers.Remove(connection);
        _inFlight.Remove(peer);
        _lastSeq.Remove(peer);
    }

    // ---- IDoorFacts: called on the doors' threads, handed on as messages ----

    void IDoorFacts.Datagram(IPEndPoint client, byte[] data) => Queue(new DatagramIn(client, data, Stopwatch.GetTimestamp()));
    void IDoorFacts.Datagram(IPEndPoint client, byte[] data, TimeSpan waited) =>
        Queue(new DatagramIn(client, data, Stopwatch.GetTimestamp() - (long)(waited.TotalSeconds * Stopwatch.Frequency)));

    private void Queue(DatagramIn datagram)
    {
        if (Interlocked.Increment(ref _queuedDatagrams) > MaxQueuedDatagrams)
        {
            Interlocked.Decrement(ref _queuedDatagrams);
            CountFloodDrop();
            return;
        }
        _self.Tell(datagram);
    }
    void IDoorFacts.DatagramTooLarge(IPEndPoint client, int length) => _self.Tell(new DatagramOversized(client, length));
    void IDoorFacts.Connected(long connection, IPEndPoint client) => _self.Tell(new ConnectionOpened(connection, client));
    void IDoorFacts.ConnectionRefused(IPEndPoint client, int limit) => _self.Tell(new ConnectionRefusedFact(client, limit));
    void IDoorFacts.Line(long connection, byte[] data) => _self.Tell(new LineIn(connection, data));
    void IDoorFacts.LineTooLong(long connection) => _self.Tell(new LineOversized(connection));
    void IDoorFacts.ReadEnded(long connection) => _self.Tell(new ConnectionReadEnded(connection));
    void IDoorFacts.Disconnected(long connection, string why) => _self.Tell(new ConnectionClosed(connection, why));
    void IDoorFacts.DoorFailed(string what, string why) => _self.Tell(new DoorBroke(what, why));
}
