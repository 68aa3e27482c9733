namespace Lockstep.Host.Demo;

/// <summary>One line of the demo's event log, stamped in demo time.</summary>
public sealed record DemoEvent(double AtMs, string Text);
