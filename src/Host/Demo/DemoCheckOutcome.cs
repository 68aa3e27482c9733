namespace Lockstep.Host.Demo;

/// <summary>How a <see cref="DemoCheck"/> came out.</summary>
public enum DemoCheckOutcome
{
    Passed,
    Failed,
    NotAvailable,
}
