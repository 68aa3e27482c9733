using System.Collections.Concurrent;

namespace Lockstep.Harness;

/// <summary>Every child process still running, so that a run that ends early kills them on the way out.</summary>
public static class ProcessRegistry
{
    private static readonly ConcurrentDictionary<ChildProcess, byte> Live = new();

    static ProcessRegistry()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
    }

    public static void Add(ChildProcess child) => Live[child] = 0;

    public static void Remove(ChildProcess child) => Live.TryRemove(child, out _);

    public static void KillAll()
    {
        foreach (var child in Live.Keys) child.Kill();
    }
}
