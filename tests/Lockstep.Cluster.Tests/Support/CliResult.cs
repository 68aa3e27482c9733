namespace Lockstep.Cluster.Tests;

/// <summary>How a CLI command ended: its exit status and its output lines.</summary>
public sealed record CliResult(int ExitCode, IReadOnlyList<string> Stdout, IReadOnlyList<string> Stderr)
{
    public override string ToString() =>
        $"exit {ExitCode}\n--- stdout\n{string.Join("\n", Stdout)}\n--- stderr\n{string.Join("\n", Stderr)}";
}
