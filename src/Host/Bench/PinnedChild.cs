using System.Diagnostics;

namespace Lockstep.Host.Bench;

/// <summary>
/// A `lockstep bench ...` helper process pinned with `taskset` to one core, standing in for a second
/// host on a one-machine benchmark. The child prints the loopback port it listens on first on its first line.
/// </summary>
public static class PinnedChild
{
    public static (Process Child, int Port) StartListening(int cpu, params string[] benchArgs)
    {
        var (child, line) = Start(cpu, benchArgs);
        return (child, int.Parse(line.Split(' ')[0]));
    }

    /// <summary>Starts the child and returns its first line, which begins with its port.</summary>
    public static (Process Child, string FirstLine) Start(int cpu, params string[] benchArgs)
    {
        string self = System.Reflection.Assembly.GetEntryAssembly()!.Location;
        var start = new ProcessStartInfo("taskset") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string arg in new[] { "-c", cpu.ToString(), Environment.ProcessPath!, self, "bench" }.Concat(benchArgs))
            start.ArgumentList.Add(arg);
        var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start `lockstep bench {benchArgs[0]}`");
        string? line = child.StandardOutput.ReadLine();
        if (line is null || !int.TryParse(line.Split(' ')[0], out _))
        {
            child.Kill();
            throw new InvalidOperationException($"`lockstep bench {benchArgs[0]}` did not report its port (said '{line}'); is taskset installed?");
        }
        return (child, line);
    }
}
