namespace Lockstep.Engine.Cpu;

/// <summary>RISC-V division semantics: no exceptions, fixed results for division by zero and overflow.</summary>
internal static class Arithmetic
{
    public static uint Div(uint a, uint b)
    {
        if (b == 0) return uint.MaxValue;
        if ((int)a == int.MinValue && (int)b == -1) return a;
        return (uint)((int)a / (int)b);
    }

    public static uint Divu(uint a, uint b) => b == 0 ? uint.MaxValue : a / b;

    public static uint Rem(uint a, uint b)
    {
        if (b == 0) return a;
        if ((int)a == int.MinValue && (int)b == -1) return 0;
        return (uint)((int)a % (int)b);
    }

    public static uint Remu(uint a, uint b) => b == 0 ? a : a % b;
}
