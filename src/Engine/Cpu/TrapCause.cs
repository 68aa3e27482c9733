namespace Lockstep.Engine.Cpu;

/// <summary>mcause values used by the machine (privileged spec, machine mode).</summary>
public static class TrapCause
{
    public const uint InstructionMisaligned = 0;
    public const uint InstructionAccessFault = 1;
    public const uint IllegalInstruction = 2;
    public const uint Breakpoint = 3;
    public const uint LoadAccessFault = 5;
    public const uint StoreAccessFault = 7;
    public const uint EcallFromM = 11;
    public const uint MachineTimerInterrupt = 0x8000_0007;
    public const uint MachineExternalInterrupt = 0x8000_000B;

    public static string Describe(uint cause) => cause switch
    {
        InstructionMisaligned => "instruction address misaligned",
        InstructionAccessFault => "instruction access fault",
        IllegalInstruction => "illegal instruction",
        Breakpoint => "breakpoint",
        LoadAccessFault => "load access fault",
        StoreAccessFault => "store access fault",
        EcallFromM => "environment call",
        MachineTimerInterrupt => "machine timer interrupt",
        MachineExternalInterrupt => "machine external interrupt",
        _ => $"cause {cause}",
    };
}
