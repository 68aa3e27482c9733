namespace Lockstep.Engine.Cpu;

/// <summary>A trap the guest did not handle (mtvec was 0): the VM halts, the host carries on.</summary>
public sealed record GuestFault(uint Pc, uint Cause, uint Tval)
{
    public override string ToString() =>
        $"guest fault: {TrapCause.Describe(Cause)} (mcause 0x{Cause:x}) at pc 0x{Pc:x8}, mtval 0x{Tval:x8}";
}
