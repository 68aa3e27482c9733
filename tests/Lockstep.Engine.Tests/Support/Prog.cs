using System.Collections;
using System.Buffers.Binary;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Recording;

namespace Lockstep.Engine.Tests;

/// <summary>
/// A hand-assembled program: a list of instruction words, written with a collection initializer
/// (<c>new Prog { Asm.Addi(..), Asm.Li(..) }</c>), loaded at the start of RAM.
/// </summary>
public sealed class Prog : IEnumerable<uint>
{
    public const uint Base = MemoryMap.RamBase;
    public const uint SmallRam = 64 * 1024;

    private readonly List<uint> _words = [];

    public void Add(uint word) => _words.Add(word);
    public void Add(IEnumerable<uint> words) => _words.AddRange(words);

    public int Count => _words.Count;

    /// <summary>Address of the instruction with the given index.</summary>
    public static uint At(int index) => Base + 4u * (uint)index;

    public byte[] ToBytes()
    {
        var bytes = new byte[_words.Count * 4];
        for (int i = 0; i < _words.Count; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4 * i), _words[i]);
        return bytes;
    }

    /// <summary>A fresh machine with this program at the start of RAM and pc on it.</summary>
    public Machine Load(InputSource? inputs = null, uint ramSize = SmallRam)
    {
        var machine = new Machine(ramSize, inputs);
        Assert.True(machine.TryWriteRam(Base, ToBytes()));
        machine.Pc = Base;
        return machine;
    }

    public IEnumerator<uint> GetEnumerator() => _words.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Writes <paramref name="code"/> (pass 0x5555, or (code &lt;&lt; 16) | 0x3333) to the test finisher; uses t0 and t1.</summary>
    public static uint[] Finish(uint command) =>
        [.. Asm.Li(Asm.T0, MemoryMap.TestFinisher), .. Asm.Li(Asm.T1, command), Asm.Sw(Asm.T1, Asm.T0, 0)];

    public static uint[] Pass() => Finish(0x5555);
}
