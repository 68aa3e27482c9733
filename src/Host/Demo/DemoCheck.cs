namespace Lockstep.Host.Demo;

/// <summary>One claim the demo makes and whether it held. NotAvailable: the product offers no way to check it.</summary>
public sealed record DemoCheck(string Name, DemoCheckOutcome Outcome, string Detail)
{
    public static DemoCheck Pass(string name, string detail) => new(name, DemoCheckOutcome.Passed, detail);

    public static DemoCheck Fail(string name, string detail) => new(name, DemoCheckOutcome.Failed, detail);

    public static DemoCheck NotAvailable(string name, string detail) => new(name, DemoCheckOutcome.NotAvailable, detail);
}
