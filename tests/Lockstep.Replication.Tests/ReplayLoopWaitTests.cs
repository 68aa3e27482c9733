using System.Collections.Concurrent;
using Lockstep.Engine.Cpu;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;
using Lockstep.Replication.Secondary;

namespace Lockstep.Replication.Tests;

/// <summary>A secondary whose primary never comes: it gives up at its deadline, and its token admits nobody after that.</summary>
public sealed class ReplayLoopWaitTests : ISecondaryFacts, IDisposable
{
    private readonly ReplicationEngine _engine = new("127.0.0.3", 0, LockstepSettings.Default);
    private readonly NodeLinks _primaries = new("127.0.0.2", 0, LockstepSettings.Default);
    private readonly BlockingCollection<(CloseReason? Reason, string Detail)> _ended = new();

    [Fact]
    public void Without_its_primary_the_wait_ends_at_the_deadline_and_the_token_is_refused_after()
    {
        var token = AttachToken.New();
        var loop = new ReplayLoop("lonely", MemoryMap.DefaultRamSize, _engine, token, LockstepSettings.Default, this);
        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal(_engine.Links.Port, loop.Start());
        Assert.True(_ended.TryTake(out var ended, ReplayLoop.ConnectWait * 2), "the loop never gave up");
        Assert.InRange(started.Elapsed, ReplayLoop.ConnectWait * 0.9, ReplayLoop.ConnectWait * 2);
        Assert.Null(ended.Reason);

        var late = new LinkEnd();
        late.Channel = _primaries.Open(_engine.Links.Host, _engine.Links.Port, "lonely", token, late.OnFrame, late.OnClosed, TimeSpan.FromSeconds(5));
        Assert.True(late.WaitClosed());
        Assert.Equal(CloseReason.Unauthenticated, late.Channel.ClosedReason);
    }

    void ISecondaryFacts.InSync() { }
    void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) { }
    void ISecondaryFacts.Ended(CloseReason? reason, string detail) => _ended.Add((reason, detail));
    void ISecondaryFacts.Refused(CloseReason reason, string detail) { }
    void ISecondaryFacts.HandedOver(Takeover takeover) { }

    public void Dispose()
    {
        _engine.Dispose();
        _primaries.Dispose();
    }
}
