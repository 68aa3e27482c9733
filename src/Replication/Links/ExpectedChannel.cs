using Lockstep.Replication.Channel;

namespace Lockstep.Replication.Links;

/// <summary>
/// A secondary waiting for its primary: the open of a channel for <see cref="Vm"/> that presents
/// <see cref="Token"/> is admitted once, and <see cref="Opened"/> gets the channel on the link's reader
/// thread before any frame of it is handed on. Disposing it stops expecting (an open after that is refused).
/// </summary>
public sealed class ExpectedChannel : IDisposable
{
    private readonly NodeLinks _owner;

    internal ExpectedChannel(NodeLinks owner, string vm, AttachToken token, Action<LinkChannel> opened, Action<Frame> onFrame, Action onClosed,
        Action<CloseReason, string> refused)
    {
        _owner = owner;
        Vm = vm;
        Token = token;
        Opened = opened;
        OnFrame = onFrame;
        OnClosed = onClosed;
        Refused = refused;
    }

    public string Vm { get; }
    internal AttachToken Token { get; }
    internal Action<LinkChannel> Opened { get; }
    internal Action<Frame> OnFrame { get; }
    internal Action OnClosed { get; }

    /// <summary>An open aimed at this secondary was refused (a wrong token); it keeps waiting for the real primary.</summary>
    internal Action<CloseReason, string> Refused { get; }

    public void Dispose() => _owner.StopExpecting(this);
}
