using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Links;

/// <summary>
/// A node's lockstep links: one listener on the node's host address that every secondary of the node
/// shares, at most one outgoing link per remote node (reused by every primary here whose secondary is
/// there) and the links remote nodes opened to this one, and one timer that keeps them all alive.
/// One per node, disposed with it; secondaries register the token they expect (<see cref="Expect"/>),
/// primaries open channels (<see cref="Open"/>).
/// </summary>
/// <remarks>
/// Threads: one accepting connections (blocking, not asynchronous: an async accept completes on the
/// thread pool, and on a node whose pool is busy the primary's connect timed out meanwhile), one for
/// the heartbeat timer, and one reader per link, whatever the number of VMs.
/// </remarks>
public sealed class NodeLinks : IDisposable
{
    /// <summary>How long a link a peer connected in may stay without a channel admitted: an honest primary opens one right after connecting.</summary>
    public static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(1);

    private readonly TcpListener _listener;
    private readonly LockstepSettings _settings;
    private readonly object _lock = new();
    private readonly Dictionary<string, Endpoint> _outgoing = [];
    private readonly HashSet<NodeLink> _incoming = [];
    private readonly List<ExpectedChannel> _expected = [];
    private readonly ManualResetEventSlim _stop = new(false);
    private volatile bool _disposed;
    private int _accepted;

    // One per remote node: its lock serialises connecting, so two primaries attaching at once share one link.
    private sealed class Endpoint
    {
        public NodeLink? Link;
    }

    /// <param name="host">The node's host address (or a name resolving to it), where it listens for links.</param>
    /// <param name="port">The link port (0: any free one).</param>
    /// <exception cref="SocketException">No port to listen on.</exception>
    public NodeLinks(string host, int port, LockstepSettings settings)
    {
        _settings = settings;
        Stalls = new OwnStalls(settings.HeartbeatInterval, Stopwatch.GetTimestamp());
        Host = host;
        _listener = new TcpListener(IPAddress.TryParse(host, out var address) ? address : Dns.GetHostAddresses(host)[0], port);
        _listener.Start(64);
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        new Thread(AcceptLoop) { IsBackground = true, Name = "lockstep-links-accept" }.Start();
        new Thread(TimerLoop) { IsBackground = true, Name = "lockstep-links-heartbeat" }.Start();
    }

    public string Host { get; }

    /// <summary>How long this node's link timer was held up: not counted as any link's silence.</summary>
    public OwnStalls Stalls { get; }

    /// <summary>The port every secondary of this node reports: primaries connect here.</summary>
    public int Port { get; }

    /// <summary>Connections accepted so far (one per remote node that has primaries for secondaries here, unless links were lost).</summary>
    public int AcceptedConnections => Volatile.Read(ref _accepted);

    /// <summary>What operators should know: links up and down, opens refused (for the node's log; never decided on).</summary>
    public event Action<string>? Logged;

    /// <summary>Links open now, both directions.</summary>
    public IReadOnlyList<NodeLink> Links()
    {
        lock (_lock) return _outgoing.Values.Select(e => e.Link).OfType<NodeLink>().Concat(_incoming).ToList();
    }

    /// <summary>
    /// Expects the primary of <paramref name="vm"/> presenting <paramref name="token"/>. Callbacks run on the
    /// link's reader thread and must only enqueue; <paramref name="refused"/> hears of opens aimed at this
    /// VM with another token (and it keeps waiting).
    /// </summary>
    public ExpectedChannel Expect(string vm, AttachToken token, Action<LinkChannel> opened, Action<Frame> onFrame, Action onClosed,
        Action<CloseReason, string> refused)
    {
        var expected = new ExpectedChannel(this, vm, token, opened, onFrame, onClosed, refused);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _expected.Add(expected);
        }
        return expected;
    }

    internal void StopExpecting(ExpectedChannel expected)
    {
        lock (_lock) _expected.Remove(expected);
    }

    /// <summary>
    /// Opens <paramref name="vm"/>'s channel to the secondary whose node listens at host:port, over the link
    /// to that node (connected now, on the caller's thread, if there is none). A refused token closes the
    /// channel (<see cref="CloseReason.Unauthenticated"/>), not the link. Callbacks run on the link's reader thread.
    /// </summary>
    /// <exception cref="SocketException">No link: refused, unreachable, or not connected within <paramref name="connectTimeout"/>.</exception>
    /// <exception cref="IOException">With TLS on: the TLS handshake failed (the peer is no node of the cluster CA, or speaks plain text).</exception>
    public LinkChannel Open(string host, int port, string vm, AttachToken token, Action<Frame> onFrame, Action onClosed, TimeSpan connectTimeout)
    {
        Endpoint endpoint;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            string key = $"{host}:{port}";
            if (!_outgoing.TryGetValue(key, out endpoint!)) _outgoing[key] = endpoint = new Endpoint();
        }
        NodeLink? link;
        lock (endpoint)
        {
            lock (_lock) link = endpoint.Link;
            if (link is not { IsOpen: true })
            {
                link = NodeLink.Connect(this, host, port, connectTimeout, _settings);
                lock (_lock) endpoint.Link = link;
                link.Start();
                Logged?.Invoke($"lockstep link to {host}:{port} up{(_settings.Tls is null ? "" : " over TLS")}");
                if (_disposed) link.Close(CloseReason.Local, "node links disposed");
            }
        }
        // A link that ends meanwhile closes the channel at once, for its reason.
        return link.Open(vm, token, onFrame, onClosed);
    }

    /// <summary>Reader thread of an incoming link: the open of a channel. True when a secondary expected it (and has it now).</summary>
    internal bool Admit(NodeLink link, uint id, HelloFrame hello)
    {
        ExpectedChannel? match;
        List<ExpectedChannel> aimed;
        lock (_lock)
        {
            aimed = _expected.Where(e => e.Vm == hello.Vm).ToList();
            match = aimed.FirstOrDefault(e => e.Token.Matches(hello.Token));
            if (match is not null) _expected.Remove(match);
        }
        if (match is null)
        {
            string detail = aimed.Count > 0
                ? $"open of {hello.Vm}'s channel from {link.Peer} with a wrong token"
                : $"open of {hello.Vm}'s channel from {link.Peer}, which no secondary here expects";
            foreach (var expected in aimed) expected.Refused(CloseReason.Unauthenticated, detail);
            Logged?.Invoke($"lockstep link: refused the {detail}");
            return false;
        }
        match.Opened(link.Add(id, hello.Vm, match.OnFrame, match.OnClosed));
        return true;
    }

    /// <summary>A link ended: the next open to its node connects anew.</summary>
    internal void Forget(NodeLink link)
    {
        lock (_lock)
        {
            if (!_incoming.Remove(link))
                foreach (var endpoint in _outgoing.Values.Where(e => e.Link == link)) endpoint.Link = null;
        }
        if (!_disposed) Logged?.Invoke($"lockstep link {(link.Outgoing ? "to" : "from")} {link.Peer} down: {link.ClosedDetail}");
    }

    private void AcceptLoop()
    {
        while (!_disposed)
        {
            Socket socket;
            try
            {
                socket = _listener.AcceptSocket();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                if (_disposed) return;
                Thread.Sleep(10); // out of descriptors, say: try again rather than spin
                continue;
            }
            Interlocked.Increment(ref _accepted);
            var link = NodeLink.Accepted(this, socket, _settings);
            lock (_lock)
            {
                if (_disposed)
                {
                    link.Close(CloseReason.Local, "node links disposed");
                    return;
                }
                _incoming.Add(link);
            }
            link.Start();
        }
    }

    private void TimerLoop()
    {
        while (!_stop.Wait(_settings.HeartbeatInterval))
        {
            Stalls.Turn(Stopwatch.GetTimestamp());
            foreach (var link in Links()) link.Tick();
        }
    }

    /// <summary>Closes the listener and every link (their channels close with <see cref="CloseReason.Local"/>).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _expected.Clear();
        }
        _stop.Set();
        _listener.Stop();
        foreach (var link in Links()) link.Close(CloseReason.Local, "node links disposed");
    }
}
