namespace Lockstep.Host.Demo;

/// <summary>The VM's figures as one status answer gave them, stamped in demo time.</summary>
public sealed record DemoStatusSample(double AtMs, Lockstep.Replication.VmState State, long Generation, double LagMs, double LogBytesPerSecond);
