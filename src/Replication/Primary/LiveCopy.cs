using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;

namespace Lockstep.Replication.Primary;

/// <summary>
/// A secondary being brought in: its RAM is copied and sent from a thread of its own while the VM
/// runs on (a page written meanwhile may come out torn; it is dirty, so the pause sends it again).
/// Written by the copy thread: <see cref="Sent"/> only. Everything else is set at creation.
/// </summary>
internal sealed class LiveCopy
{
    private volatile bool _sent;

    public LiveCopy(LinkChannel channel, object link, string address, Machine machine, string vmName, Action done)
    {
        Channel = channel;
        Link = link;
        Address = address;
        new Thread(() =>
        {
            try
            {
                channel.Send(new SnapshotPagesFrame(MachineSnapshot.CapturePagesWhileRunning(machine)));
            }
            catch (Exception e)
            {
                // Nothing may escape this thread (it would end the node); the attach just fails.
                channel.Close(CloseReason.Local, $"copying RAM failed: {e.Message}");
            }
            _sent = true;
            done();
        }) { IsBackground = true, Name = $"vm-{vmName}-precopy" }.Start();
    }

    public LinkChannel Channel { get; }

    /// <summary>Identifies this secondary's acks at the gate.</summary>
    public object Link { get; }

    public string Address { get; }
    public long StartedAt { get; } = Stopwatch.GetTimestamp();

    /// <summary>The pages are on their way (or the copy failed and the channel is closed): the pause may follow.</summary>
    public bool Sent => _sent;
}
