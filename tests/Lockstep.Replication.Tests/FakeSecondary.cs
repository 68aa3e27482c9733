using System.Collections.Concurrent;
using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>The secondary's end of a channel, driven by the test: it acknowledges only what the test says.</summary>
internal sealed class FakeSecondary : IDisposable
{
    private readonly BlockingCollection<SnapshotFrame> _snapshots = new();
    private readonly ConcurrentQueue<ulong> _horizons = new();
    private int _segments;

    private FakeSecondary(System.Net.Sockets.Socket socket) =>
        Channel = new LockstepChannel(socket, OnFrame, TimeSpan.FromSeconds(5)).Start();

    public LockstepChannel Channel { get; }

    /// <summary>Log segments received so far.</summary>
    public int Segments => Volatile.Read(ref _segments);

    /// <summary>The horizon of the newest segment received (0 before any).</summary>
    public ulong LastHorizon { get; private set; }

    /// <summary>Asks the primary to attach to a new fake secondary and admits its connection (checking its token).</summary>
    /// <param name="beforeAccept">Runs after the attach was asked for (say, to start the primary only then).</param>
    public static FakeSecondary Attach(PrimaryLoop primary, Action? beforeAccept = null)
    {
        var token = AttachToken.New();
        using var listener = new ChannelListener("127.0.0.1", token);
        primary.Attach("127.0.0.1", listener.Port, token);
        beforeAccept?.Invoke();
        var socket = listener.AcceptPrimary(Stopwatch.GetTimestamp() + 10 * Stopwatch.Frequency, () => false)
            ?? throw new TimeoutException("the primary never connected");
        return new FakeSecondary(socket);
    }

    private void OnFrame(Frame frame)
    {
        if (frame is SnapshotFrame snapshot) _snapshots.Add(snapshot);
        if (frame is SegmentFrame segment)
        {
            LastHorizon = segment.Segment.Horizon;
            Interlocked.Increment(ref _segments);
        }
    }

    /// <summary>Where the snapshot the primary sent was taken (checked against the state it carries).</summary>
    public ulong SnapshotPosition()
    {
        Assert.True(_snapshots.TryTake(out var snapshot, TimeSpan.FromSeconds(10)), "no snapshot came");
        var machine = new Machine(MemoryMap.DefaultRamSize);
        MachineSnapshot.Restore(machine, snapshot.State);
        Assert.Equal(machine.Position, snapshot.Position);
        return snapshot.Position;
    }

    public void Ack(ulong horizon) => Channel.Send(new AckFrame(0, horizon, 0));

    public void Dispose() => Channel.Close(CloseReason.Local, "test over");
}
