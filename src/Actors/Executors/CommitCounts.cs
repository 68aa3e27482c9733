namespace Lockstep.Actors.Executors;

/// <summary>A durable primary's journal commits added up, for its status (requests per commit, where the commit's time goes).</summary>
internal sealed class CommitCounts
{
    public long Commits { get; private set; }
    public long Parts { get; private set; }
    public double WaitedMs { get; private set; }
    public double WriteMs { get; private set; }

    public void Add(VmLogJournal.Committed committed)
    {
        Commits++;
        Parts += committed.Parts;
        WaitedMs += committed.WaitedMs;
        WriteMs += committed.WriteMs;
    }
}
