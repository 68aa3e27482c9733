namespace Lockstep.Actors.Lockstep;

/// <summary>A primary's figures at one moment, for status and benchmarks.</summary>
/// <param name="LastReprotectPauseMs">How long the VM stood still for the last secondary's snapshot.</param>
/// <param name="LastPrecopyMs">How long the last secondary's RAM took to go over while the VM ran on (before that pause).</param>
public sealed record RuntimeStats(
    string State, long Generation, ulong Instructions, ulong Outputs, double LagMs,
    double LogBytesPerSecond, double LastReprotectPauseMs, string? Detail, long LogBytesShipped, double LastPrecopyMs);
