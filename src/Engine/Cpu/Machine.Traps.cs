namespace Lockstep.Engine.Cpu;

/// <summary>Machine-mode CSRs, trap entry and interrupts.</summary>
public sealed unsafe partial class Machine
{
    private const uint MstatusMie = 1 << 3;
    private const uint MstatusMpie = 1 << 7;
    private const uint MstatusMppMachine = 3 << 11;
    private const uint MisaRv32im = (1u << 30) | (1u << 8) | (1u << 12);
    private const uint MipMtip = 1 << 7;
    private const uint MipMeip = 1 << 11;
    private const uint MieWritable = (1 << 3) | MipMtip | MipMeip;

    private bool _mstatusMie, _mstatusMpie;
    private uint _mie, _mtvec, _mepc, _mcause, _mtval, _mscratch;
    private ulong _cycleOffset, _instretOffset;
    private bool _trapRaised;
    private uint _raisedCause, _raisedTval;

    /// <summary>mip as the guest sees it: MTIP from the timer level, MEIP from the network device.</summary>
    public uint PendingInterrupts => (TimerPending ? MipMtip : 0) | (Net.InterruptPending ? MipMeip : 0);

    /// <summary>A device aborts the current instruction with a trap (taken once the device returns).</summary>
    internal void RaiseTrap(uint cause, uint tval)
    {
        _trapRaised = true;
        _raisedCause = cause;
        _raisedTval = tval;
    }

    private uint TakeRaisedTrap(uint pc)
    {
        _trapRaised = false;
        return EnterTrap(pc, _raisedCause, _raisedTval);
    }

    /// <summary>Enters the handler at mtvec, or halts the VM with a guest fault when there is none.</summary>
    private uint EnterTrap(uint pc, uint cause, uint tval)
    {
        uint handler = _mtvec & ~3u;
        if (handler == 0)
        {
            Fault = new GuestFault(pc, cause, tval);
            IsHalted = true;
            _exitRequested = true;
            return pc;
        }
        _mepc = pc;
        _mcause = cause;
        _mtval = tval;
        _mstatusMpie = _mstatusMie;
        _mstatusMie = false;
        bool vectored = (_mtvec & 1) != 0 && (cause & 0x8000_0000) != 0;
        return vectored ? handler + 4 * (cause & 0x7FFF_FFFF) : handler;
    }

    private void TakeInterrupt(uint enabledPending)
    {
        uint cause = (enabledPending & MipMeip) != 0 ? TrapCause.MachineExternalInterrupt : TrapCause.MachineTimerInterrupt;
        Pc = EnterTrap(Pc, cause, 0);
    }

    private uint ExecuteCsr(DecodedInstruction* d, uint pc, ulong n)
    {
        Position = n - 1;
        Pc = pc;
        uint csr = (uint)d->Imm & 0xFFF;
        bool immediate = d->Op is Opcode.Csrrwi or Opcode.Csrrsi or Opcode.Csrrci;
        bool swap = d->Op is Opcode.Csrrw or Opcode.Csrrwi;
        uint source = immediate ? d->Rs1 : _x[d->Rs1];
        bool writes = swap || d->Rs1 != 0;
        bool reads = !(swap && d->Rd == Decoder.SinkRegister); // csrw must not cause a read's side effects
        bool readOnly = (csr >> 10) == 3;
        if (!IsImplementedCsr(csr) || (writes && readOnly))
            return EnterTrap(pc, TrapCause.IllegalInstruction, InstructionBitsAt(pc));
        uint old = reads ? ReadCsr(csr) : 0;
        if (writes)
        {
            uint value = d->Op switch
            {
                Opcode.Csrrw or Opcode.Csrrwi => source,
                Opcode.Csrrs or Opcode.Csrrsi => old | source,
                _ => old & ~source,
            };
            WriteCsr(csr, value);
        }
        _x[d->Rd] = old;
        return pc + 4;
    }

    private uint InstructionBitsAt(uint pc) =>
        pc - MemoryMap.RamBase <= RamSize - 4 ? *(uint*)(_ram + (pc - MemoryMap.RamBase)) : 0;

    private static bool IsImplementedCsr(uint csr) => csr switch
    {
        0x300 or 0x301 or 0x304 or 0x305 or 0x310 or 0x320 or 0x340 or 0x341 or 0x342 or 0x343 or 0x344 => true,
        0xB00 or 0xB02 or 0xB80 or 0xB82 => true,
        0xC00 or 0xC01 or 0xC02 or 0xC80 or 0xC81 or 0xC82 => true,
        0xF11 or 0xF12 or 0xF13 or 0xF14 or 0xF15 => true,
        _ => false,
    };

    private uint ReadCsr(uint csr)
    {
        ulong cycles = Position + _cycleOffset, retired = Position + _instretOffset;
        return csr switch
        {
            0x300 => (_mstatusMie ? MstatusMie : 0) | (_mstatusMpie ? MstatusMpie : 0) | MstatusMppMachine,
            0x301 => MisaRv32im,
            0x304 => _mie,
            0x305 => _mtvec,
            0x340 => _mscratch,
            0x341 => _mepc,
            0x342 => _mcause,
            0x343 => _mtval,
            0x344 => PendingInterrupts,
            0xB00 or 0xC00 => (uint)cycles,
            0xB80 or 0xC80 => (uint)(cycles >> 32),
            0xB02 or 0xC02 => (uint)retired,
            0xB82 or 0xC82 => (uint)(retired >> 32),
            0xC01 => (uint)ReadMtime(),
            0xC81 => (uint)(ReadMtime() >> 32),
            _ => 0, // mstatush, mcountinhibit, ids: zero
        };
    }

    private void WriteCsr(uint csr, uint value)
    {
        // As in the spec's reference models: the write replaces the counter as this instruction found
        // it (a write to one half keeps the other), and this instruction's own increment is suppressed,
        // so the next instruction reads what was written. Position itself never moves: replay counts by it.
        ulong now = Position, next = Position + 1;
        switch (csr)
        {
            case 0x300:
                _mstatusMie = (value & MstatusMie) != 0;
                _mstatusMpie = (value & MstatusMpie) != 0;
                _exitRequested = true; // interrupts may now be taken
                break;
            case 0x304:
                _mie = value & MieWritable;
                _exitRequested = true;
                break;
            case 0x305: _mtvec = value & ~2u; break;
            case 0x340: _mscratch = value; break;
            case 0x341: _mepc = value & ~3u; break;
            case 0x342: _mcause = value; break;
            case 0x343: _mtval = value; break;
            case 0xB00: _cycleOffset = SetLow(now + _cycleOffset, value) - next; break;
            case 0xB80: _cycleOffset = SetHigh(now + _cycleOffset, value) - next; break;
            case 0xB02: _instretOffset = SetLow(now + _instretOffset, value) - next; break;
            case 0xB82: _instretOffset = SetHigh(now + _instretOffset, value) - next; break;
        }
    }

    private static ulong SetLow(ulong counter, uint value) => (counter & 0xFFFF_FFFF_0000_0000) | value;
    private static ulong SetHigh(ulong counter, uint value) => (counter & 0xFFFF_FFFF) | ((ulong)value << 32);
}
