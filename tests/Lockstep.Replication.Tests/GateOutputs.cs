using Lockstep.Engine.Cpu;

namespace Lockstep.Replication.Tests;

/// <summary>Outputs for the gate's tests: a one-byte packet, numbered and made at an instruction count.</summary>
internal static class GateOutputs
{
    public static MachineOutput Packet(ulong seq, ulong position) => new(seq, position, OutputKind.Packet, 1, [(byte)seq]);
}
