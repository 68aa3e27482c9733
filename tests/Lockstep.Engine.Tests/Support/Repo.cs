using System.Collections.Concurrent;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Harness;

namespace Lockstep.Engine.Tests;

/// <summary>The repository's guest images (<see cref="RepoRoot"/>), as bytes and as loaded machines.</summary>
public static class Repo
{
    private static readonly ConcurrentDictionary<string, byte[]> Images = new();

    public static string GuestPath(string name) => RepoRoot.Guest(name);

    /// <summary>The bytes of guests/bin/NAME.elf (a fresh copy each time, so callers may patch it).</summary>
    public static byte[] GuestImage(string name) => (byte[])Images.GetOrAdd(name, n => File.ReadAllBytes(GuestPath(n))).Clone();

    /// <summary>A 16 MiB machine with the guest loaded, as the CLI builds it.</summary>
    /// <param name="translate">False: everything runs in the interpreter.</param>
    public static Machine LoadGuest(string name, InputSource? inputs = null, bool translate = true)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize, inputs) { UseTranslator = translate };
        ElfLoader.Load(machine, GuestImage(name));
        return machine;
    }
}
