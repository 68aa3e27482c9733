using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;

namespace Lockstep.Replication.Primary;

/// <summary>
/// The connect of an attach, on a short-lived thread of its own: it may block for its whole timeout,
/// and the VM thread that would otherwise wait runs other VMs too. The VM's step takes the outcome
/// once <see cref="Done"/>; an attach given up before that (the primary stopped, the secondary
/// dismissed) has the channel closed as soon as the connect brings it.
/// </summary>
internal sealed class PendingConnect
{
    private readonly object _lock = new();
    private volatile bool _done;
    private LinkChannel? _channel;
    private string? _failure;
    private ExceptionDispatchInfo? _unexpected;
    private bool? _abandonedSayingGoodbye;

    /// <param name="done">Called on the connect thread once the outcome is ready (not when abandoned).</param>
    public PendingConnect(Func<LinkChannel> connect, object link, string address, string vmName, Action done)
    {
        Link = link;
        Address = address;
        new Thread(() =>
        {
            LinkChannel? channel = null;
            string? failure = null;
            ExceptionDispatchInfo? unexpected = null;
            try
            {
                channel = connect();
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                failure = e.Message;
            }
            catch (Exception e)
            {
                // Nothing may escape this thread (it would end the node); the VM's step rethrows it.
                unexpected = ExceptionDispatchInfo.Capture(e);
            }
            lock (_lock)
            {
                if (_abandonedSayingGoodbye is { } goodbye)
                {
                    if (channel is not null) End(channel, goodbye);
                    return;
                }
                (_channel, _failure, _unexpected) = (channel, failure, unexpected);
                _done = true;
            }
            done();
        }) { IsBackground = true, Name = $"vm-{vmName}-connect" }.Start();
    }

    /// <summary>Identifies this secondary's acks at the gate.</summary>
    public object Link { get; }

    public string Address { get; }

    /// <summary>Connected or failed: <see cref="Take"/> may be called.</summary>
    public bool Done => _done;

    /// <summary>The connected channel, or null with the reason the connect failed. Only once <see cref="Done"/>.</summary>
    public (LinkChannel? Channel, string? Failure) Take()
    {
        lock (_lock)
        {
            _unexpected?.Throw();
            return (_channel, _failure);
        }
    }

    /// <summary>Gives the attach up: a channel connected or still to come is ended (in good order with <paramref name="sayGoodbye"/>).</summary>
    public void Abandon(bool sayGoodbye)
    {
        lock (_lock)
        {
            if (_abandonedSayingGoodbye is not null) return;
            _abandonedSayingGoodbye = sayGoodbye;
            if (_channel is { } channel) End(channel, sayGoodbye);
        }
    }

    private static void End(LinkChannel channel, bool sayGoodbye)
    {
        if (sayGoodbye) channel.SayGoodbye();
        else channel.Close(CloseReason.Local, "primary killed");
    }
}
