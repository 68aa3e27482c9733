using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Links;

/// <summary>
/// One VM's lockstep channel (its primary and its secondary) on the <see cref="NodeLink"/> between their
/// two nodes. Sends go straight to the link's socket from the caller's thread; received frames are handed
/// to the owner's callback on the link's reader thread, which must only enqueue (or send a short frame):
/// every VM on the link waits behind it. A channel ends on its own (goodbye, drop, refusal, a local close)
/// or with its link, taking the link's <see cref="CloseReason"/>; either way the owner's close callback
/// runs exactly once.
/// </summary>
public sealed class LinkChannel
{
    private readonly NodeLink _link;
    private readonly uint _id;
    private readonly Action<Frame> _onFrame;
    private readonly Action _onClosed;
    private readonly object _closeLock = new();
    // Held for the whole of a frame sent in parts: parts of two frames of one channel must not interleave.
    private readonly object _partsLock = new();
    // Written once under _closeLock; read from any thread.
    private volatile Closing? _closed;
    // Set before the goodbye goes, so that whatever closes the channel meanwhile cannot turn an orderly end into a loss.
    private volatile bool _saidGoodbye;
    // Reader thread only: the frame whose parts are arriving.
    private byte[]? _assembling;
    private byte _assemblingType;
    private int _assembled;
    private int _announced;
    private const int InitialAssembly = 1 << 20;

    private sealed record Closing(CloseReason Reason, string Detail);

    internal LinkChannel(NodeLink link, uint id, string vm, Action<Frame> onFrame, Action onClosed)
    {
        _link = link;
        _id = id;
        Vm = vm;
        _onFrame = onFrame;
        _onClosed = onClosed;
    }

    /// <summary>The VM whose channel this is (for logs).</summary>
    public string Vm { get; }

    public bool IsOpen => _closed is null;

    /// <summary>Why the channel ended, or null while it lives.</summary>
    public CloseReason? ClosedReason => _closed?.Reason;

    /// <summary>The end as an operator reads it (never decided on).</summary>
    public string? ClosedDetail => _closed?.Detail;

    /// <summary>How long the link has been silent: silence is the link's (its heartbeats), not one VM's.</summary>
    public TimeSpan SilentFor => _link.SilentFor;

    /// <summary>Writes a frame now, on the caller's thread (see <see cref="NodeLink.Send"/>); nothing once closed.</summary>
    public void Send(Frame frame)
    {
        if (IsOpen) _link.Send(_id, frame, _partsLock);
    }

    /// <summary>Ends the channel from this side; the peer sees it as a connection that closed (not a goodbye). The first reason stays.</summary>
    public void Close(CloseReason reason, string detail)
    {
        if (!IsOpen) return;
        if (!_saidGoodbye) _link.Send(_id, DropFrame.Instance, _partsLock);
        End(reason, detail);
    }

    /// <summary>Tells the peer this is an orderly end, so it does not fail over.</summary>
    public void SayGoodbye()
    {
        if (!IsOpen) return;
        _saidGoodbye = true;
        _link.Send(_id, GoodbyeFrame.Instance, _partsLock);
        End(CloseReason.SaidGoodbye, "said goodbye");
    }

    /// <summary>The link ended: so does every channel on it, for the link's reason.</summary>
    internal void LinkLost(CloseReason reason, string detail) => End(reason, detail);

    /// <summary>Reader thread: a frame of this channel.</summary>
    /// <exception cref="FrameFormatException">Parts that do not make a frame: the link ends (the peer broke the protocol).</exception>
    internal void Receive(Frame frame)
    {
        switch (frame)
        {
            case PartFrame part:
                if (Assemble(part) is { } whole) Receive(whole);
                return;
            case GoodbyeFrame:
                End(CloseReason.PeerSaidGoodbye, "peer said goodbye");
                return;
            case DropFrame:
                End(CloseReason.PeerClosed, "the peer dropped the channel");
                return;
            case RefusedFrame:
                End(CloseReason.Unauthenticated, "the secondary refused the open (a wrong or stale attach token)");
                return;
        }
        if (!IsOpen) return;
        try
        {
            _onFrame(frame);
        }
        catch (Exception e)
        {
            // One VM's failure ends that VM's channel, never the link the others share.
            Close(CloseReason.ConnectionLost, $"handling a {frame.Type} frame failed: {e.Message}");
        }
    }

    private Frame? Assemble(PartFrame part)
    {
        var piece = part.Piece.Span;
        if (_assembling is null)
        {
            if (piece.Length < FrameCodec.HeaderSize) throw new FrameFormatException($"first part of {piece.Length} bytes, shorter than a header");
            var header = piece[..FrameCodec.HeaderSize];
            if (FrameCodec.ChannelOf(header) != _id) throw new FrameFormatException($"a frame in parts on channel {_id} names channel {FrameCodec.ChannelOf(header)}");
            _assemblingType = header[0];
            _announced = FrameCodec.PayloadLength(header);
            // Grown as the parts arrive, never to more than twice what came: an announced length alone allocates nothing.
            _assembling = new byte[Math.Min(_announced, InitialAssembly)];
            _assembled = 0;
            piece = piece[FrameCodec.HeaderSize..];
        }
        if (piece.Length > _announced - _assembled) throw new FrameFormatException($"parts longer than the {_announced}-byte frame they announced");
        if (piece.Length > _assembling.Length - _assembled)
            Array.Resize(ref _assembling, (int)Math.Min(_announced, Math.Max(2L * _assembling.Length, _assembled + piece.Length)));
        piece.CopyTo(_assembling.AsSpan(_assembled));
        _assembled += piece.Length;
        if (!part.Last) return null;
        if (_assembled != _announced) throw new FrameFormatException($"parts ended at {_assembled} of {_announced} bytes");
        var payload = _assembling;
        _assembling = null;
        var whole = FrameCodec.Decode(_assemblingType, payload);
        if (whole is PartFrame or HelloFrame or HeartbeatFrame or PingFrame or PongFrame) throw new FrameFormatException($"a {whole.Type} frame sent in parts");
        return whole;
    }

    private void End(CloseReason reason, string detail)
    {
        lock (_closeLock)
        {
            if (_closed is not null) return;
            _closed = _saidGoodbye ? new Closing(CloseReason.SaidGoodbye, "said goodbye") : new Closing(reason, detail);
        }
        _link.Remove(_id);
        _onClosed();
    }
}
