namespace Lockstep.Host.Demo;

/// <summary>A request the VM answered: what was asked, the answer without its id, and when (demo time).</summary>
public sealed record DemoAnswer(uint Peer, string Id, string Command, string Body, double SentAtMs, double AnsweredAtMs, int Sends)
{
    public double LatencyMs => AnsweredAtMs - SentAtMs;
}
