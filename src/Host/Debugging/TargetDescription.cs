using System.Text;

namespace Lockstep.Host.Debugging;

/// <summary>
/// The target description gdb reads through qXfer:features:read: a 32-bit RISC-V core (x0–x31,
/// pc) and the machine-mode CSRs of <see cref="ControlRegisters.Described"/>. Register numbers
/// are those of the remote protocol's g and p packets: 0–31 the x registers, 32 pc, and a CSR
/// at <see cref="CsrBase"/> + its number, as gdb numbers them.
/// </summary>
public static class TargetDescription
{
    public const int PcRegister = 32;
    public const int CsrBase = 65;

    private static readonly string[] XNames =
    [
        "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "fp", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
        "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6",
    ];

    private static readonly Dictionary<uint, string> CsrNames = new()
    {
        [ControlRegisters.Mstatus] = "mstatus", [ControlRegisters.Misa] = "misa", [ControlRegisters.Mie] = "mie",
        [ControlRegisters.Mtvec] = "mtvec", [ControlRegisters.Mscratch] = "mscratch", [ControlRegisters.Mepc] = "mepc",
        [ControlRegisters.Mcause] = "mcause", [ControlRegisters.Mtval] = "mtval", [ControlRegisters.Mip] = "mip",
        [ControlRegisters.Mhartid] = "mhartid",
    };

    public static string Xml { get; } = Build();

    private static string Build()
    {
        var xml = new StringBuilder();
        xml.Append("<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n");
        xml.Append("<architecture>riscv:rv32</architecture>\n<feature name=\"org.gnu.gdb.riscv.cpu\">\n");
        for (int r = 0; r < 32; r++)
        {
            string type = r switch { 1 => "code_ptr", 2 or 8 => "data_ptr", _ => "int" };
            xml.Append($"  <reg name=\"{XNames[r]}\" bitsize=\"32\" type=\"{type}\" regnum=\"{r}\"/>\n");
        }
        xml.Append($"  <reg name=\"pc\" bitsize=\"32\" type=\"code_ptr\" regnum=\"{PcRegister}\"/>\n</feature>\n");
        xml.Append("<feature name=\"org.gnu.gdb.riscv.csr\">\n");
        foreach (uint csr in ControlRegisters.Described)
            xml.Append($"  <reg name=\"{CsrNames[csr]}\" bitsize=\"32\" type=\"int\" regnum=\"{CsrBase + csr}\" group=\"system\"/>\n");
        xml.Append("</feature>\n</target>\n");
        return xml.ToString();
    }
}
