namespace Lockstep.Host.Demo;

/// <summary>
/// A request the VM answered: what was asked, the answer without its id, and when (demo time); <see cref="HeldMs"/> is
/// how long the client's pacer kept it back before its first send (0: not held).
/// </summary>
public sealed record DemoAnswer(uint Peer, string Id, string Command, string Body, double SentAtMs, double AnsweredAtMs, int Sends, double HeldMs)
{
    public double LatencyMs => AnsweredAtMs - SentAtMs;
}
