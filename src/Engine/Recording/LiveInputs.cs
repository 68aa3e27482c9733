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

    /// <summary>Hands a packet to the VM. Safe from any thread; it becomes visible at the next boundary.</summary>
    public void Deliver(uint peer, byte[] data)
    {
        if (data.Length > NetDevice.MaxPacket)
            throw new ArgumentException($"packet of {data.Length} bytes is larger than the 64 KiB the network device takes", nameof(data));
        _arrivals.Enqueue((peer, data));
    }

    public bool HasArrivals => !_arrivals.IsEmpty;

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
        while (_arrivals.TryDequeue(out var packet))
        {
            Recorder?.Append(new LogEntry(EntryKind.Packet, machine.Position, 0, packet.Peer, packet.Data));
            machine.EnqueuePacket(packet.Peer, packet.Data);
        }
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
