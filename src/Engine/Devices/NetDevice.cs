using Lockstep.Engine.Cpu;

namespace Lockstep.Engine.Devices;

/// <summary>
/// Our packet device. Arriving packets are queued by the input source (live: as they come, and
/// logged; replay: at their logged instruction count). MEIP is pending while packets wait and
/// the interrupt is enabled.
/// </summary>
internal sealed class NetDevice : IDevice
{
    public const int MaxPacket = 64 * 1024;

    private const uint RxCount = 0x00, RxLen = 0x04, RxPeer = 0x08, RxAddr = 0x0C, RxPop = 0x10;
    private const uint TxAddr = 0x14, TxLen = 0x18, TxPeer = 0x1C, TxSend = 0x20, IrqEnable = 0x24;

    private readonly Queue<(uint Peer, byte[] Data)> _rx = new();
    private uint _rxAddr, _txAddr, _txLen, _txPeer, _irqEnable;

    public int QueuedPackets => _rx.Count;
    public bool InterruptPending => (_irqEnable & 1) != 0 && _rx.Count > 0;

    public void Enqueue(uint peer, byte[] data) => _rx.Enqueue((peer, data));

    public uint Read(Machine machine, uint offset, int size) => (offset & ~3u) switch
    {
        RxCount => (uint)_rx.Count,
        RxLen => _rx.TryPeek(out var head) ? (uint)head.Data.Length : 0,
        RxPeer => _rx.TryPeek(out var head) ? head.Peer : 0,
        RxAddr => _rxAddr,
        TxAddr => _txAddr,
        TxLen => _txLen,
        TxPeer => _txPeer,
        IrqEnable => _irqEnable,
        _ => 0,
    };

    public void Write(Machine machine, uint offset, uint value, int size)
    {
        switch (offset & ~3u)
        {
            case RxAddr: _rxAddr = value; break;
            case TxAddr: _txAddr = value; break;
            case TxLen: _txLen = value; break;
            case TxPeer: _txPeer = value; break;
            case RxPop: Pop(machine, value); break;
            case TxSend: Send(machine, offset); break;
            case IrqEnable:
                _irqEnable = value & 1;
                machine.RequestBoundary();
                break;
        }
    }

    private void Pop(Machine machine, uint requested)
    {
        if (!_rx.TryPeek(out var head)) return;
        int count = (int)Math.Min(requested, (uint)head.Data.Length);
        if (count > 0 && !machine.TryWriteRam(_rxAddr, head.Data.AsSpan(0, count)))
        {
            machine.RaiseTrap(TrapCause.StoreAccessFault, _rxAddr);
            return;
        }
        _rx.Dequeue();
        machine.RequestBoundary();
    }

    private void Send(Machine machine, uint offset)
    {
        if (_txLen > MaxPacket)
        {
            machine.RaiseTrap(TrapCause.StoreAccessFault, MemoryMap.Net + offset);
            return;
        }
        var data = new byte[_txLen];
        if (!machine.TryReadRam(_txAddr, data))
        {
            machine.RaiseTrap(TrapCause.LoadAccessFault, _txAddr);
            return;
        }
        machine.EmitOutput(OutputKind.Packet, _txPeer, data);
    }

    public void Save(BinaryWriter writer)
    {
        writer.Write(_rxAddr); writer.Write(_txAddr); writer.Write(_txLen); writer.Write(_txPeer); writer.Write(_irqEnable);
        writer.Write(_rx.Count);
        foreach (var (peer, data) in _rx)
        {
            writer.Write(peer);
            writer.Write(data.Length);
            writer.Write(data);
        }
    }

    public void Load(BinaryReader reader)
    {
        _rxAddr = reader.ReadUInt32(); _txAddr = reader.ReadUInt32(); _txLen = reader.ReadUInt32();
        _txPeer = reader.ReadUInt32(); _irqEnable = reader.ReadUInt32();
        _rx.Clear();
        int count = reader.ReadInt32();
        // Lengths from a snapshot are checked against what is left of it before anything is allocated for them.
        if (count < 0 || (long)count * 8 > Remaining(reader)) throw new InvalidDataException($"snapshot says {count} queued packets, more than its bytes hold");
        for (int i = 0; i < count; i++)
        {
            uint peer = reader.ReadUInt32();
            int length = reader.ReadInt32();
            if (length < 0 || length > MaxPacket || length > Remaining(reader))
                throw new InvalidDataException($"snapshot's queued packet {i} says {length} bytes (at most {MaxPacket}, and no more than the snapshot holds)");
            _rx.Enqueue((peer, reader.ReadBytes(length)));
        }
    }

    private static long Remaining(BinaryReader reader) => reader.BaseStream.Length - reader.BaseStream.Position;
}
