using System.Collections.Concurrent;
using System.Security.Cryptography;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Devices;

namespace Lockstep.Engine.Recording;

/// <summary>
/// Inputs from the real world: host clocks, a cryptographic RNG and packets handed in by the host.
/// With a <see cref="EventRecorder"/> every input is also recorded at the instruction count where
/// it took effect (record mode); without one it is a plain, unprotected run.
/// </summary>
public sealed class LiveInputs : InputSource
{
    /// <summary>Instructions between looks at the clock for the timer line and at arrived packets.</summary>
    public const ulong PollInterval = 8192;

    private readonly ConcurrentQueue<(uint Peer, byte[] Data)> _arrivals = new();
    private readonly byte[] _random = new byte[4096];
    private int _randomUsed;

    public LiveInputs(EventRecorder? recorder = null, ulong mtimeStart = 0)
    {
        Recorder = recorder;
        Clock = new LiveClock(mtimeStart);
        _randomUsed = _random.Length;
    }

    public EventRecorder? Recorder { get; }
    public LiveClock Clock { get; }

    /// <summary>Packets handed in and not yet moved to the device, at most: a client that sends faster than the guest reads costs bounded memory.</summary>
    public const int MaxArrivals = 1024;

    /// <summary>Packets queued in the device (received, not yet popped by the guest) beyond which arrivals wait.</summary>
    public const int MaxDeviceQueue = 1024;

    private int _waiting;
    private long _dropped;
    // Set at a boundary that left arrivals waiting because the device queue was full (VM thread only).
    private bool _deviceFull;

    /// <summary>
    /// Hands a packet to the VM. Safe from any thread; it becomes visible at a later boundary. False, and
    /// counted in <see cref="DroppedPackets"/>, when <see cref="MaxArrivals"/> wait already (as a full receive ring drops).
    /// </summary>
    public bool Deliver(uint peer, byte[] data)
    {
        if (data.Length > NetDevice.MaxPacket)
            throw new ArgumentException($"packet of {data.Length} bytes is larger than the 64 KiB the network device takes", nameof(data));
        if (Interlocked.Increment(ref _waiting) > MaxArrivals)
        {
            Interlocked.Decrement(ref _waiting);
            Interlocked.Increment(ref _dropped);
            return false;
        }
        _arrivals.Enqueue((peer, data));
        return true;
    }

    /// <summary>A packet delivered now would be taken (not dropped), as far as one can tell from any thread.</summary>
    public bool HasRoom => Volatile.Read(ref _waiting) < MaxArrivals;

    /// <summary>Packets refused by <see cref="Deliver"/> because too many waited.</summary>
    public long DroppedPackets => Interlocked.Read(ref _dropped);

    /// <summary>Arrivals the next boundary can move to the device (none while its queue is full: a guest that does not read is not spun for them).</summary>
    public bool HasArrivals => !_arrivals.IsEmpty && !_deviceFull;

    public override ulong ReadMtime(Machine machine)
    {
        ulong value = Math.Max(Clock.Now(), machine.LastMtime);
        Recorder?.Append(new LogEntry(EntryKind.Mtime, machine.Position, value));
        return value;
    }

    public override ulong ReadRtc(Machine machine)
    {
        ulong value = LiveClock.WallClockNanos();
        Recorder?.Append(new LogEntry(EntryKind.Rtc, machine.Position, value));
        return value;
    }

    public override uint ReadRandom(Machine machine)
    {
        if (_randomUsed + 4 > _random.Length)
        {
            RandomNumberGenerator.Fill(_random);
            _randomUsed = 0;
        }
        uint value = BitConverter.ToUInt32(_random, _randomUsed);
        _randomUsed += 4;
        Recorder?.Append(new LogEntry(EntryKind.Random, machine.Position, value));
        return value;
    }

    public override void AtBoundary(Machine machine)
    {
        while (machine.QueuedPackets < MaxDeviceQueue && _arrivals.TryDequeue(out var packet))
        {
            Interlocked.Decrement(ref _waiting);
            Recorder?.Append(new LogEntry(EntryKind.Packet, machine.Position, 0, packet.Peer, packet.Data));
            machine.EnqueuePacket(packet.Peer, packet.Data);
        }
        _deviceFull = machine.QueuedPackets >= MaxDeviceQueue;
        bool due = machine.Mtimecmp != ulong.MaxValue && Clock.Now() >= machine.Mtimecmp;
        if (due != machine.TimerPending)
        {
            Recorder?.Append(new LogEntry(due ? EntryKind.TimerOn : EntryKind.TimerOff, machine.Position));
            machine.TimerPending = due;
        }
    }

    public override ulong NextBoundary(Machine machine) => machine.Position + PollInterval;

    /// <summary>How long a sleeping guest can be left alone: until its timer is due (or an hour).</summary>
    public TimeSpan UntilTimer(Machine machine) =>
        machine.Mtimecmp == ulong.MaxValue ? TimeSpan.FromHours(1) : Clock.Until(machine.Mtimecmp);
}
