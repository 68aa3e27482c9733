using System.Buffers.Binary;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

public class ElfLoaderTests
{
    private static ImageException Refused(byte[] image, uint ramSize = MemoryMap.DefaultRamSize) =>
        Assert.Throws<ImageException>(() => ElfLoader.Load(new Machine(ramSize), image));

    private static int FirstLoadHeader(byte[] elf)
    {
        uint phoff = BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(28));
        ushort phentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(42));
        ushort phnum = BinaryPrimitives.ReadUInt16LittleEndian(elf.AsSpan(44));
        for (int i = 0; i < phnum; i++)
        {
            int at = (int)phoff + i * phentsize;
            if (BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(at)) == 1 && BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(at + 20)) > 0)
                return at;
        }
        throw new InvalidOperationException("no PT_LOAD");
    }

    [Fact]
    public void Hello_loads_with_pc_at_its_entry_and_its_code_in_ram()
    {
        byte[] elf = Repo.GuestImage("hello");
        uint entry = BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(24));
        var machine = new Machine();
        machine.Pc = 0x1234;
        ElfLoader.Load(machine, elf);
        Assert.Equal(entry, machine.Pc);
        Assert.InRange(entry, MemoryMap.RamBase, MemoryMap.RamBase + MemoryMap.DefaultRamSize - 4);
        Assert.Empty(machine.DirtyPages()); // loading starts a clean dirty-page epoch

        int ph = FirstLoadHeader(elf);
        uint offset = BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(ph + 4));
        uint address = BinaryPrimitives.ReadUInt32LittleEndian(elf.AsSpan(ph + 12));
        var loaded = new byte[64];
        Assert.True(machine.TryReadRam(address, loaded));
        Assert.Equal(elf.AsSpan((int)offset, 64).ToArray(), loaded);
    }

    [Fact]
    public void A_minimal_image_loads_and_runs_and_its_bss_is_zeroed()
    {
        var program = new Prog { Addi(A0, Zero, 5), Prog.Pass() };
        const uint at = MemoryMap.RamBase + 0x100;
        byte[] elf = MiniElf.Build(program, loadAddress: at, extraZeroes: 16);
        var machine = new Machine(Prog.SmallRam);
        Assert.True(machine.TryWriteRam(at + (uint)program.Count * 4, Enumerable.Repeat((byte)0xAB, 16).ToArray()));
        ElfLoader.Load(machine, elf);
        Assert.Equal(at, machine.Pc);
        var zeroes = new byte[16];
        Assert.True(machine.TryReadRam(at + (uint)program.Count * 4, zeroes));
        Assert.All(zeroes, b => Assert.Equal(0, b));
        Assert.Equal(StopReason.Halted, machine.Run(100));
        Assert.Equal(5u, machine[A0]);
    }

    [Fact]
    public void Guest_images_all_load()
    {
        foreach (string name in new[] { "hello", "bench", "kv", "ticker", "clockrng" })
        {
            var segments = ElfLoader.Parse(Repo.GuestImage(name), MemoryMap.DefaultRamSize, out uint entry);
            Assert.NotEmpty(segments);
            Assert.All(segments, s => Assert.True(s.Address >= MemoryMap.RamBase && s.MemorySize >= s.FileBytes.Length));
            Assert.Equal(0u, entry & 3);
        }
    }

    [Fact]
    public void An_empty_file_is_not_an_elf()
    {
        Assert.Contains("not an ELF file", Refused([]).Message);
    }

    [Fact]
    public void A_text_file_is_not_an_elf()
    {
        Assert.Contains("not an ELF file", Refused("#!/bin/sh\necho this is a script, not a program image\n"u8.ToArray()).Message);
    }

    [Fact]
    public void A_truncated_header_is_refused()
    {
        Assert.Contains("not an ELF file", Refused(Repo.GuestImage("hello")[..40]).Message);
    }

    [Fact]
    public void A_64_bit_image_is_refused()
    {
        byte[] elf = Repo.GuestImage("hello");
        elf[4] = 2;
        var e = Refused(elf);
        Assert.Contains("64-bit", e.Message);
        Assert.Contains("32-bit", e.Message);
    }

    [Fact]
    public void A_big_endian_image_is_refused()
    {
        byte[] elf = Repo.GuestImage("hello");
        elf[5] = 2;
        Assert.Contains("big-endian", Refused(elf).Message);
    }

    [Fact]
    public void An_image_for_another_machine_is_refused()
    {
        byte[] elf = Repo.GuestImage("hello");
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(18), 62); // x86-64
        var e = Refused(elf);
        Assert.Contains("wrong ELF machine: 62", e.Message);
        Assert.Contains("RISC-V", e.Message);
    }

    [Fact]
    public void A_relocatable_object_is_refused()
    {
        byte[] elf = Repo.GuestImage("hello");
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(16), 1); // ET_REL
        Assert.Contains("not an executable", Refused(elf).Message);
    }

    [Fact]
    public void A_compressed_instruction_image_is_refused()
    {
        byte[] elf = Repo.GuestImage("hello");
        elf[36] |= 1; // EF_RISCV_RVC
        Assert.Contains("RVC", Refused(elf).Message);
    }

    [Fact]
    public void A_segment_outside_ram_is_refused()
    {
        byte[] elf = Repo.GuestImage("hello");
        int ph = FirstLoadHeader(elf);
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(ph + 12), 0x1000); // p_paddr
        var e = Refused(elf);
        Assert.Contains("outside RAM", e.Message);
        Assert.Contains("0x00001000", e.Message);
    }

    [Fact]
    public void A_segment_running_past_the_end_of_ram_is_refused()
    {
        byte[] elf = MiniElf.Build(new Prog { Nop(), Nop() }, loadAddress: MemoryMap.RamBase + Prog.SmallRam - 4);
        Assert.Contains("outside RAM", Refused(elf, Prog.SmallRam).Message);
        // The same image fits a larger machine.
        ElfLoader.Load(new Machine(2 * Prog.SmallRam), elf);
    }

    [Fact]
    public void An_entry_point_outside_ram_is_refused()
    {
        byte[] elf = Repo.GuestImage("hello");
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(24), 0x1000);
        var e = Refused(elf);
        Assert.Contains("entry point 0x00001000", e.Message);

        byte[] misaligned = MiniElf.Build(new Prog { Nop(), Nop() }, entry: MemoryMap.RamBase + 2);
        Assert.Contains("entry point", Refused(misaligned).Message);
    }

    [Fact]
    public void Segment_bytes_beyond_the_file_are_refused()
    {
        byte[] elf = MiniElf.Build(new Prog { Nop(), Nop() });
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(MiniElf.HeaderSize + 16), 4096); // p_filesz
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(MiniElf.HeaderSize + 20), 4096); // p_memsz
        Assert.Contains("malformed", Refused(elf).Message);
    }

    [Fact]
    public void Program_headers_outside_the_file_are_refused()
    {
        byte[] elf = MiniElf.Build(new Prog { Nop() });
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(28), 10_000); // e_phoff
        Assert.Contains("program headers", Refused(elf).Message);
    }

    [Fact]
    public void An_image_without_loadable_segments_is_refused()
    {
        byte[] elf = MiniElf.Build(new Prog { Nop() });
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(MiniElf.HeaderSize), 4); // PT_NOTE
        Assert.Contains("no loadable segments", Refused(elf).Message);
    }

    [Fact]
    public void Every_refusal_is_one_line()
    {
        byte[] hello = Repo.GuestImage("hello");
        var images = new List<byte[]> { Array.Empty<byte>(), "junk"u8.ToArray(), hello[..60] };
        for (int at = 0; at < 64; at++)
        {
            byte[] damaged = (byte[])hello.Clone();
            damaged[at] ^= 0xFF;
            images.Add(damaged);
        }
        foreach (byte[] image in images)
        {
            try
            {
                ElfLoader.Parse(image, MemoryMap.DefaultRamSize, out _);
            }
            catch (ImageException e)
            {
                Assert.DoesNotContain('\n', e.Message);
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
        }
    }
}
