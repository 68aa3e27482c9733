using System.Runtime.InteropServices;

namespace Lockstep.Engine.Cpu;

/// <summary>
/// One instruction decoded once and cached per RAM word. A destination of x0 is stored as
/// <see cref="Decoder.SinkRegister"/> so that the hot loop never has to test for x0.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
internal struct DecodedInstruction
{
    public Opcode Op;
    public byte Rd;
    public byte Rs1;
    public byte Rs2;
    /// <summary>Immediate; the CSR number for CSR ops; the raw bits for <see cref="Opcode.Illegal"/>.</summary>
    public int Imm;
}
