using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Lockstep.Engine.Cpu.Translation;
using Lockstep.Engine.Devices;
using Lockstep.Engine.Recording;

namespace Lockstep.Engine.Cpu;

/// <summary>
/// The deterministic RV32IM machine: one hart in machine mode, RAM and the devices of the
/// contract. Every non-deterministic input comes through <see cref="Inputs"/>; with the same
/// inputs at the same instruction counts, two machines go through the same states.
/// </summary>
/// <remarks>
/// <see cref="Position"/> counts every executed instruction, including those that trap, so that
/// it names one point of the execution. An asynchronous input or an interrupt takes effect only
/// at a boundary, before the instruction at its position.
/// </remarks>
public sealed unsafe partial class Machine
{
    private const int RegisterSlots = 33; // x0..x31 and a sink for writes to x0

    // Per RAM page, one byte of flags.
    /// <summary>Written since <see cref="ClearDirtyPages"/>.</summary>
    internal const byte PageDirty = 1;
    /// <summary>Ever written with something other than zero (committed memory); a page without it reads zero.</summary>
    internal const byte PageTouched = 2;
    /// <summary>Holds decoded instructions or compiled code: stores into it must drop them.</summary>
    internal const byte PageCode = 4;
    /// <summary>
    /// Written since <see cref="ClearCheckpointMarks"/>: the journal's incremental checkpoints keep marks of
    /// their own, so that the live copy's epochs (<see cref="PageDirty"/>) and theirs do not disturb each other.
    /// </summary>
    internal const byte PageSinceCheckpoint = 8;
    /// <summary>The only state in which a store within the page needs nothing but the store itself.</summary>
    internal const byte PageWritable = PageDirty | PageTouched | PageSinceCheckpoint;

    private readonly uint[] _registers = GC.AllocateArray<uint>(RegisterSlots, pinned: true);
    private readonly GuestMemory _ramMemory;
    private readonly GuestMemory _decodedMemory;
    private readonly byte[] _pageStateArray;
    private readonly nint[] _basesArray;
    private int _touchedPages;
    private readonly uint* _x;
    private readonly byte* _ram;
    private readonly DecodedInstruction* _decoded;
    private readonly byte* _pageState;

    internal readonly Uart Uart = new();
    internal readonly TestFinisher Finisher = new();
    internal readonly GoldfishRtc Rtc = new();
    internal readonly Clint Clint = new();
    internal readonly NetDevice Net = new();
    internal readonly RandomSource Rng = new();

    private ulong _nextBoundary;
    private bool _boundaryRequested = true;
    private bool _exitRequested;
    private bool _producedOutput;

    public Machine(uint ramSize = MemoryMap.DefaultRamSize, InputSource? inputs = null)
    {
        if (ramSize < MemoryMap.PageSize || ramSize % MemoryMap.PageSize != 0 || ramSize > 0x7FFF_F000)
            throw new ArgumentOutOfRangeException(nameof(ramSize), $"memory size must be a multiple of 4 KiB between 4 KiB and 2 GiB, not {ramSize}");
        RamSize = ramSize;
        // RAM and the decode cache take memory only where they are written: RAM where the guest stores
        // something other than zero, the decode cache where code runs.
        _ramMemory = new GuestMemory(ramSize);
        _decodedMemory = new GuestMemory((nuint)ramSize / 4 * (nuint)sizeof(DecodedInstruction));
        _pageStateArray = GC.AllocateArray<byte>(PageCount, pinned: true);
        _x = (uint*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_registers));
        _ram = _ramMemory.Pointer;
        _decoded = (DecodedInstruction*)_decodedMemory.Pointer;
        _pageState = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_pageStateArray));
        _basesArray = GC.AllocateArray<nint>(3, pinned: true);
        _basesArray[RamBaseSlot] = (nint)_ram;
        _basesArray[PageStateBaseSlot] = (nint)_pageState;
        _basesArray[RegistersBaseSlot] = (nint)_x;
        CodeBases = (nint*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_basesArray));
        Inputs = inputs ?? new LiveInputs();
        _translations = new TranslationCache(PageCount);
    }

    public uint RamSize { get; }
    public int PageCount => (int)(RamSize >> MemoryMap.PageShift);
    public uint Pc { get; set; }

    /// <summary>Instructions executed so far (trapping ones included): the machine's notion of time.</summary>
    public ulong Position { get; private set; }

    public InputSource Inputs { get; set; }
    public bool IsWaiting { get; private set; }
    public bool IsHalted { get; private set; }
    public int ExitCode { get; private set; }
    public GuestFault? Fault { get; private set; }

    /// <summary>Sequence number the next output will carry.</summary>
    public ulong NextOutputSeq { get; private set; }

    /// <summary>
    /// The newest console bytes the guest wrote, with their offsets in the run's console stream. Part of the
    /// state (snapshots carry it), so a secondary, a promoted secondary and a machine rebuilt from a checkpoint
    /// hold the same bytes at the same offsets as the primary did.
    /// </summary>
    public ConsoleRing ConsoleTail { get; } = new();

    /// <summary>Outputs produced and not yet taken by the host.</summary>
    public List<MachineOutput> Outputs { get; } = [];

    /// <summary>The largest mtime the guest has been shown, so a clock taking over can continue from it.</summary>
    public ulong LastMtime { get; private set; }

    public ulong Mtimecmp => Clint.Mtimecmp;
    public bool TimerPending { get; internal set; }
    public int QueuedPackets => Net.QueuedPackets;

    public uint this[int register] => register == 0 ? 0 : _registers[register];

    public void SetRegister(int register, uint value)
    {
        if (register != 0) _registers[register] = value;
    }

    /// <summary>
    /// Runs until the budget is spent, the guest sleeps, halts or produces output, or replay
    /// needs more log. Host calls (delivering packets, snapshots) belong between runs.
    /// </summary>
    public StopReason Run(ulong maxInstructions)
    {
        ulong budgetEnd = Position + maxInstructions < Position ? ulong.MaxValue : Position + maxInstructions;
        _producedOutput = false;
        // The source may have learnt of earlier events since the last run (a replay got more log).
        _nextBoundary = Math.Min(_nextBoundary, Inputs.NextBoundary(this));
        while (true)
        {
            if (IsHalted) return Fault is null ? StopReason.Halted : StopReason.Faulted;
            if (_producedOutput) return StopReason.Output;
            ulong horizon = Inputs.Horizon;
            if (Position >= horizon) return StopReason.NeedLog;
            if (Position >= budgetEnd) return StopReason.Budget;
            if (_boundaryRequested || Position >= _nextBoundary)
            {
                _boundaryRequested = false;
                Inputs.AtBoundary(this);
                _nextBoundary = Inputs.NextBoundary(this);
            }
            uint pending = PendingInterrupts;
            if (IsWaiting)
            {
                if ((pending & _mie) == 0)
                {
                    Inputs.OnSleepingAt(this);
                    _boundaryRequested = true; // a live source must look at the clock again on the next run
                    return StopReason.Waiting;
                }
                IsWaiting = false;
            }
            if (_mstatusMie && (pending & _mie) != 0) TakeInterrupt(pending & _mie);
            if (IsHalted) continue;
            ulong end = Math.Min(Math.Min(budgetEnd, _nextBoundary), horizon);
            if (end <= Position) end = Position + 1;
            _exitRequested = false;
            ExecuteChunk(end);
        }
    }

    /// <summary>
    /// Runs in short slices until the machine stops for a reason other than a spent budget or an
    /// output (replay at its horizon, a halt, a fault, a sleep), handing every output to
    /// <paramref name="take"/>. Short slices also let the JIT optimise the decode loop early.
    /// </summary>
    public StopReason RunUntilStopped(Action<MachineOutput> take, ulong slice = LiveInputs.PollInterval)
    {
        StopReason reason;
        do
        {
            reason = Run(slice);
            foreach (var output in Outputs) take(output);
            Outputs.Clear();
        }
        while (reason is StopReason.Output or StopReason.Budget);
        return reason;
    }

    /// <summary>
    /// Hands the machine to another input source between runs, as when a replaying secondary
    /// goes live: the next run starts with a boundary under the new source.
    /// </summary>
    public void SwitchInputs(InputSource inputs)
    {
        Inputs = inputs;
        _boundaryRequested = true;
        _nextBoundary = Position;
    }

    /// <summary>Asks the run loop to return to its boundary step after the current instruction.</summary>
    internal void RequestBoundary()
    {
        _boundaryRequested = true;
        _exitRequested = true;
    }

    internal void Halt(int exitCode)
    {
        IsHalted = true;
        ExitCode = exitCode;
        _exitRequested = true;
    }

    internal void EmitOutput(OutputKind kind, uint peer, byte[] data)
    {
        Outputs.Add(new MachineOutput(NextOutputSeq++, Position, kind, peer, data));
        _producedOutput = true;
        _exitRequested = true;
    }

    /// <summary>Puts an arriving packet in the device queue; only input sources call this, at a boundary.</summary>
    internal void EnqueuePacket(uint peer, byte[] data)
    {
        Net.Enqueue(peer, data);
        _exitRequested = true;
    }

    internal ulong ReadMtime()
    {
        ulong value = Inputs.ReadMtime(this);
        if (value > LastMtime) LastMtime = value;
        return value;
    }

    /// <summary>Copies guest memory out; false when the range is not all RAM.</summary>
    public bool TryReadRam(uint address, Span<byte> destination)
    {
        uint offset = address - MemoryMap.RamBase;
        if (offset > RamSize || (uint)destination.Length > RamSize - offset) return false;
        new ReadOnlySpan<byte>(_ram + offset, destination.Length).CopyTo(destination);
        return true;
    }

    /// <summary>
    /// Copies into guest memory, keeping dirty tracking and decoded code right; false when not all
    /// RAM. Zeroes bound for a page never written are left out: the page reads zero already.
    /// </summary>
    public bool TryWriteRam(uint address, ReadOnlySpan<byte> source)
    {
        uint offset = address - MemoryMap.RamBase;
        if (offset > RamSize || (uint)source.Length > RamSize - offset) return false;
        while (!source.IsEmpty)
        {
            int inPage = Math.Min(source.Length, MemoryMap.PageSize - (int)(offset & (MemoryMap.PageSize - 1)));
            var part = source[..inPage];
            if ((_pageState[offset >> MemoryMap.PageShift] & PageTouched) != 0 || part.IndexOfAnyExcept((byte)0) >= 0)
            {
                part.CopyTo(new Span<byte>(_ram + offset, inPage));
                MarkWritten(offset, (uint)inPage);
            }
            source = source[inPage..];
            offset += (uint)inPage;
        }
        return true;
    }

    /// <summary>A store to RAM that the fast path left (see <see cref="PageWritable"/>): <paramref name="size"/> 1, 2 or 4.</summary>
    private void StoreRam(uint offset, uint size, uint value)
    {
        uint last = offset + size - 1;
        if (size < 4) value &= (1u << (8 * (int)size)) - 1;
        bool untouched = ((_pageState[offset >> MemoryMap.PageShift] | _pageState[last >> MemoryMap.PageShift]) & PageTouched) == 0;
        if (value == 0 && untouched) return;
        switch (size)
        {
            case 1: _ram[offset] = (byte)value; break;
            case 2: Unsafe.WriteUnaligned(_ram + offset, (ushort)value); break;
            default: Unsafe.WriteUnaligned(_ram + offset, value); break;
        }
        MarkWritten(offset, size);
    }

    private void MarkWritten(uint offset, uint length)
    {
        uint first = offset >> MemoryMap.PageShift, last = (offset + length - 1) >> MemoryMap.PageShift;
        bool code = false;
        for (uint page = first; page <= last; page++)
        {
            byte state = _pageState[page];
            code |= (state & PageCode) != 0;
            if ((state & PageTouched) == 0) _ramMemory.NoteCommitted(++_touchedPages);
            _pageState[page] = (byte)(state | PageWritable);
        }
        if (code) ForgetDecoded(offset, length);
    }

    /// <summary>Drops cached decodings of the words a store touched, so modified code is decoded again.</summary>
    private void ForgetDecoded(uint offset, uint length)
    {
        uint first = offset >> 2, last = (offset + length - 1) >> 2;
        for (uint word = first; word <= last; word++) _decoded[word] = default;
        _translations.Forget(offset, length);
    }

    /// <summary>Starts a new dirty-page epoch: only pages written after this count as dirty. Leaves the checkpoint marks alone.</summary>
    public void ClearDirtyPages()
    {
        for (int page = 0; page < _pageStateArray.Length; page++) _pageStateArray[page] &= unchecked((byte)~PageDirty);
    }

    public IEnumerable<int> DirtyPages() => PagesMarked(PageDirty);

    /// <summary>Starts a new checkpoint epoch: only pages written after this count for the next increment. Leaves <see cref="DirtyPages"/> alone.</summary>
    public void ClearCheckpointMarks()
    {
        for (int page = 0; page < _pageStateArray.Length; page++) _pageStateArray[page] &= unchecked((byte)~PageSinceCheckpoint);
    }

    /// <summary>Pages written since <see cref="ClearCheckpointMarks"/> (whatever <see cref="ClearDirtyPages"/> did meanwhile).</summary>
    public IEnumerable<int> PagesSinceCheckpoint() => PagesMarked(PageSinceCheckpoint);

    private IEnumerable<int> PagesMarked(byte mark)
    {
        for (int page = 0; page < _pageStateArray.Length; page++)
            if ((_pageStateArray[page] & mark) != 0) yield return page;
    }

    /// <summary>
    /// Pages ever written since the machine started or RAM was last restored wholesale; every other
    /// page reads zero and takes no memory. Safe to call from another thread while the machine runs
    /// (a page it misses is written meanwhile, so it is dirty).
    /// </summary>
    public IEnumerable<int> TouchedPages()
    {
        for (int page = 0; page < _pageStateArray.Length; page++)
            if ((Volatile.Read(ref _pageStateArray[page]) & PageTouched) != 0) yield return page;
    }

    /// <summary>How many pages of RAM are committed (see <see cref="TouchedPages"/>).</summary>
    public int TouchedPageCount => _touchedPages;

    public ReadOnlySpan<byte> Page(int page)
    {
        if ((uint)page >= (uint)PageCount) throw new ArgumentOutOfRangeException(nameof(page), $"page {page} is outside RAM ({PageCount} pages)");
        return new ReadOnlySpan<byte>(_ram + ((uint)page << MemoryMap.PageShift), MemoryMap.PageSize);
    }
}
