namespace Lockstep.Actors.Lockstep;

/// <summary>A primary's figures at one moment, for status and benchmarks.</summary>
public sealed record RuntimeStats(
    string State, long Generation, ulong Instructions, ulong Outputs, double LagMs,
    double LogBytesPerSecond, double LastReprotectPauseMs, string? Detail, long LogBytesShipped);
