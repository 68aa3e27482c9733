using System.Collections.Concurrent;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Links;

namespace Lockstep.Replication.Tests;

/// <summary>
/// One side of a VM channel as the link tests see it: what arrived, how often it was told the channel
/// ended, and the refusals aimed at it. Callbacks only record (as the loops' only enqueue).
/// </summary>
internal sealed class LinkEnd
{
    private int _closes;

    public BlockingCollection<Frame> Frames { get; } = new();
    public ConcurrentQueue<CloseReason> Refusals { get; } = new();
    public LinkChannel? Channel { get; set; }

    /// <summary>How many times the close callback ran (it must run exactly once per channel).</summary>
    public int Closes => Volatile.Read(ref _closes);

    /// <summary>What the callback does on the reader thread; replaceable before the channel opens.</summary>
    public Action<Frame> Handle { get; set; }

    public LinkEnd() => Handle = Frames.Add;

    public void OnFrame(Frame frame) => Handle(frame);
    public void OnClosed() => Interlocked.Increment(ref _closes);
    public void OnRefused(CloseReason reason, string detail) => Refusals.Enqueue(reason);

    public Frame Next() =>
        Frames.TryTake(out var frame, TimeSpan.FromSeconds(10)) ? frame : throw new TimeoutException("no frame came");

    public bool WaitClosed() => SpinWait.SpinUntil(() => Closes > 0, TimeSpan.FromSeconds(10));

    /// <summary>A channel pair for <paramref name="vm"/>: primary on <paramref name="primaryNode"/>, secondary on <paramref name="secondaryNode"/>.</summary>
    public static (LinkEnd Primary, LinkEnd Secondary) Open(NodeLinks primaryNode, NodeLinks secondaryNode, string vm, Action<LinkEnd>? prepareSecondary = null)
    {
        var token = AttachToken.New();
        var secondary = new LinkEnd();
        prepareSecondary?.Invoke(secondary);
        var opened = new ManualResetEventSlim(false);
        secondaryNode.Expect(vm, token, channel =>
        {
            secondary.Channel = channel;
            opened.Set();
        }, secondary.OnFrame, secondary.OnClosed, secondary.OnRefused);
        var primary = new LinkEnd();
        primary.Channel = primaryNode.Open(secondaryNode.Host, secondaryNode.Port, vm, token, primary.OnFrame, primary.OnClosed, TimeSpan.FromSeconds(5));
        if (!opened.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException($"{vm}: the secondary never saw the open");
        return (primary, secondary);
    }
}
