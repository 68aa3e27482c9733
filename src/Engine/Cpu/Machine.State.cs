namespace Lockstep.Engine.Cpu;

/// <summary>Saving and restoring everything but RAM: registers, CSRs, devices, pending inputs.</summary>
public sealed unsafe partial class Machine
{
    internal void SaveCore(BinaryWriter w)
    {
        w.Write(RamSize);
        w.Write(Pc);
        w.Write(Position);
        for (int i = 1; i < 32; i++) w.Write(_registers[i]);
        w.Write(_mstatusMie); w.Write(_mstatusMpie);
        w.Write(_mie); w.Write(_mtvec); w.Write(_mepc); w.Write(_mcause); w.Write(_mtval); w.Write(_mscratch);
        w.Write(_cycleOffset); w.Write(_instretOffset);
        w.Write(TimerPending); w.Write(IsWaiting); w.Write(IsHalted); w.Write(ExitCode);
        w.Write(Fault is not null);
        if (Fault is not null) { w.Write(Fault.Pc); w.Write(Fault.Cause); w.Write(Fault.Tval); }
        w.Write(NextOutputSeq);
        w.Write(LastMtime);
        Rtc.Save(w);
        Clint.Save(w);
        Net.Save(w);
        ConsoleTail.Save(w);
    }

    internal void LoadCore(BinaryReader r)
    {
        uint ramSize = r.ReadUInt32();
        if (ramSize != RamSize) throw new InvalidDataException($"snapshot is of a machine with {ramSize} bytes of RAM, this one has {RamSize}");
        Pc = r.ReadUInt32();
        Position = r.ReadUInt64();
        for (int i = 1; i < 32; i++) _registers[i] = r.ReadUInt32();
        _mstatusMie = r.ReadBoolean(); _mstatusMpie = r.ReadBoolean();
        _mie = r.ReadUInt32(); _mtvec = r.ReadUInt32(); _mepc = r.ReadUInt32(); _mcause = r.ReadUInt32();
        _mtval = r.ReadUInt32(); _mscratch = r.ReadUInt32();
        _cycleOffset = r.ReadUInt64(); _instretOffset = r.ReadUInt64();
        TimerPending = r.ReadBoolean(); IsWaiting = r.ReadBoolean(); IsHalted = r.ReadBoolean(); ExitCode = r.ReadInt32();
        Fault = r.ReadBoolean() ? new GuestFault(r.ReadUInt32(), r.ReadUInt32(), r.ReadUInt32()) : null;
        NextOutputSeq = r.ReadUInt64();
        LastMtime = r.ReadUInt64();
        Rtc.Load(r);
        Clint.Load(r);
        Net.Load(r);
        ConsoleTail.Load(r);
        Outputs.Clear();
        _boundaryRequested = true;
        _nextBoundary = Position;
    }

    /// <summary>
    /// <see cref="LoadCore"/> from bytes that may be bad (a snapshot from a peer or from storage): a core that
    /// is cut short or does not decode leaves the machine's core as it was (its outputs included).
    /// </summary>
    /// <exception cref="InvalidDataException">The core state does not decode; <paramref name="what"/> names it.</exception>
    internal void LoadCoreOrRefuse(BinaryReader r, string what)
    {
        var saved = new MemoryStream();
        using (var w = new BinaryWriter(saved, System.Text.Encoding.UTF8, leaveOpen: true)) SaveCore(w);
        var outputs = Outputs.ToArray();
        try
        {
            LoadCore(r);
        }
        catch (Exception e) when (e is EndOfStreamException or InvalidDataException)
        {
            saved.Position = 0;
            using (var back = new BinaryReader(saved)) LoadCore(back);
            Outputs.AddRange(outputs);
            throw new InvalidDataException($"{what}: core state refused ({e.Message})", e);
        }
    }

    /// <summary>Forgets decoded instructions, as after RAM was replaced wholesale; gives their memory back.</summary>
    internal void ForgetAllDecoded()
    {
        nuint perPage = (nuint)(MemoryMap.PageSize / 4 * sizeof(DecodedInstruction));
        for (int page = 0; page < PageCount; page++)
        {
            if ((_pageState[page] & PageCode) == 0) continue;
            _decodedMemory.Zero((nuint)page * perPage, perPage);
            _pageState[page] &= unchecked((byte)~PageCode);
        }
        _translations.Clear();
    }

    /// <summary>All of RAM back to zero and uncommitted, as at start (the code marks stay, for <see cref="ForgetAllDecoded"/>).</summary>
    internal void ClearRam()
    {
        _ramMemory.Zero(0, RamSize);
        for (int page = 0; page < PageCount; page++) _pageState[page] &= PageCode;
        _touchedPages = 0;
        _ramMemory.NoteCommitted(0);
    }

    internal Span<byte> WritablePage(int page)
    {
        uint offset = (uint)page << MemoryMap.PageShift;
        MarkWritten(offset, MemoryMap.PageSize);
        return new Span<byte>(_ram + offset, MemoryMap.PageSize);
    }
}
