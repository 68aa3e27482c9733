using System.Buffers.Binary;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Host.Debugging;

/// <summary>
/// The machine-mode CSRs a debugger shows. The engine keeps them private; their values are read
/// from a core-only snapshot (a delta with no dirty page), whose layout is checked against the
/// registers the machine does expose, so a change of the snapshot format shows as an error here
/// rather than as wrong values.
/// </summary>
public static class ControlRegisters
{
    public const uint Mstatus = 0x300, Misa = 0x301, Mie = 0x304, Mtvec = 0x305, Mscratch = 0x340,
        Mepc = 0x341, Mcause = 0x342, Mtval = 0x343, Mip = 0x344, Mhartid = 0xF14;

    /// <summary>The CSRs in the target description, in register-number order.</summary>
    public static readonly uint[] Described = [Mstatus, Misa, Mie, Mtvec, Mscratch, Mepc, Mcause, Mtval, Mip, Mhartid];

    private const uint MisaRv32im = (1u << 30) | (1u << 8) | (1u << 12);
    private const uint MstatusMppMachine = 3 << 11;
    private const int SnapshotHeader = 5; // magic and kind
    private const int RegistersAt = SnapshotHeader + 4 + 4 + 8;
    private const int CsrsAt = RegistersAt + 31 * 4;

    public static uint Read(Machine machine, uint csr)
    {
        switch (csr)
        {
            case Misa: return MisaRv32im;
            case Mip: return machine.PendingInterrupts;
            case Mhartid: return 0;
        }
        machine.ClearDirtyPages();
        byte[] core = MachineSnapshot.CaptureDelta(machine);
        CheckLayout(machine, core);
        bool mie = core[CsrsAt] != 0, mpie = core[CsrsAt + 1] != 0;
        return csr switch
        {
            Mstatus => (mie ? 1u << 3 : 0) | (mpie ? 1u << 7 : 0) | MstatusMppMachine,
            Mie => Word(core, 0),
            Mtvec => Word(core, 1),
            Mepc => Word(core, 2),
            Mcause => Word(core, 3),
            Mtval => Word(core, 4),
            Mscratch => Word(core, 5),
            _ => throw new ArgumentOutOfRangeException(nameof(csr), $"CSR 0x{csr:x3} is not shown by the debugger"),
        };
    }

    private static uint Word(byte[] core, int index) => BinaryPrimitives.ReadUInt32LittleEndian(core.AsSpan(CsrsAt + 2 + 4 * index));

    private static void CheckLayout(Machine machine, ReadOnlySpan<byte> core)
    {
        bool matches = BinaryPrimitives.ReadUInt32LittleEndian(core[SnapshotHeader..]) == machine.RamSize
            && BinaryPrimitives.ReadUInt32LittleEndian(core[(SnapshotHeader + 4)..]) == machine.Pc
            && BinaryPrimitives.ReadUInt64LittleEndian(core[(SnapshotHeader + 8)..]) == machine.Position;
        for (int r = 1; r < 32 && matches; r++)
            matches = BinaryPrimitives.ReadUInt32LittleEndian(core[(RegistersAt + 4 * (r - 1))..]) == machine[r];
        if (!matches) throw new InvalidOperationException("the machine snapshot layout is not the one the debugger reads CSRs from");
    }
}
