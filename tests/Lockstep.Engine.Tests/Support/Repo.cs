using System.Collections.Concurrent;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;

namespace Lockstep.Engine.Tests;

/// <summary>Locates the repository (by Lockstep.sln above the test binaries) and its guest images.</summary>
public static class Repo
{
    private static readonly Lazy<string> RootPath = new(FindRoot);
    private static readonly ConcurrentDictionary<string, byte[]> Images = new();

    public static string Root => RootPath.Value;

    public static string GuestPath(string name) => Path.Combine(Root, "guests", "bin", name + ".elf");

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

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Lockstep.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no Lockstep.sln above {AppContext.BaseDirectory}");
    }
}
