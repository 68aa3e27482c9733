using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Lockstep.Actors.Lockstep;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Actors.Tests;

/// <summary>The secondary's end of a channel, driven by the test.</summary>
internal sealed class FakeSecondary : IDisposable
{
    private readonly BlockingCollection<byte[]> _snapshots = new();
    private int _segments;

    private FakeSecondary(Socket socket) =>
        Channel = new LockstepChannel(socket, OnFrame, TimeSpan.FromSeconds(5));

    public LockstepChannel Channel { get; }

    /// <summary>Log segments received so far.</summary>
    public int Segments => Volatile.Read(ref _segments);

    /// <summary>Asks the primary to attach to a new fake secondary and accepts its connection.</summary>
    /// <param name="beforeAccept">Runs after the attach was asked for (say, to start the primary only then).</param>
    public static FakeSecondary Attach(PrimaryRuntime primary, Action? beforeAccept = null)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        primary.AttachSecondary("127.0.0.1", ((IPEndPoint)listener.LocalEndpoint).Port);
        beforeAccept?.Invoke();
        return new FakeSecondary(listener.AcceptSocket());
    }

    private void OnFrame(FrameType type, byte[] payload)
    {
        if (type == FrameType.Snapshot) _snapshots.Add(payload);
        if (type == FrameType.Segment) Interlocked.Increment(ref _segments);
    }

    /// <summary>Where the snapshot the primary sent was taken.</summary>
    public ulong SnapshotPosition()
    {
        Assert.True(_snapshots.TryTake(out var payload, TimeSpan.FromSeconds(10)), "no snapshot came");
        var machine = new Machine(MemoryMap.DefaultRamSize);
        MachineSnapshot.Restore(machine, payload[16..]);
        return machine.Position;
    }

    public void Ack(ulong horizon)
    {
        var ack = new byte[24];
        BinaryPrimitives.WriteUInt64LittleEndian(ack.AsSpan(8), horizon);
        Channel.Send(FrameType.Ack, ack);
    }

    public void Dispose() => Channel.Close("test over");
}
