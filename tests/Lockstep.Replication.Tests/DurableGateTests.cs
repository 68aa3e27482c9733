using Lockstep.Engine.Cpu;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// A durable VM's output rule: an output leaves only once the secondary has acknowledged the log past it
/// and the journal has committed every entry recorded before it, in either order; alone (no secondary),
/// the journal alone decides. A VM that is not durable never waits for the journal.
/// </summary>
public sealed class DurableGateTests
{
    private readonly List<MachineOutput> _released = [];

    private static MachineOutput Output(ulong seq, ulong position) => GateOutputs.Packet(seq, position);

    /// <summary>A secondary seeded from position 0, holding the snapshot and given authority there: outputs from here wait for its acks.</summary>
    private static void Authorize(OutputGate gate, object link)
    {
        gate.Link(link);
        gate.Seeding(link, 0);
        gate.Ack(link, 0, 0);
        Assert.True(gate.Authorize(link, 0));
    }

    [Fact]
    public void Alone_an_output_waits_for_the_journal_to_commit_the_entries_before_it()
    {
        var gate = new OutputGate(_released.Add, durable: true);
        gate.Hold([Output(0, 100)], entries: 5);
        Assert.Empty(_released);
        gate.Journaled(4);
        Assert.Empty(_released);
        gate.Journaled(5);
        Assert.Equal([0UL], _released.Select(o => o.Seq));
        Assert.Equal(1UL, gate.ReleasedSeq);
    }

    [Fact]
    public void Linked_an_output_needs_both_the_ack_and_the_commit_whichever_comes_first()
    {
        var gate = new OutputGate(_released.Add, durable: true);
        var link = new object();
        Authorize(gate, link);
        gate.Hold([Output(0, 100)], entries: 3);
        gate.Hold([Output(1, 300)], entries: 7);

        gate.Ack(link, 200, 200);
        Assert.Empty(_released); // acknowledged, not committed
        gate.Journaled(7);
        Assert.Equal([0UL], _released.Select(o => o.Seq)); // the second is committed but not acknowledged
        gate.Ack(link, 400, 400);
        Assert.Equal([0UL, 1UL], _released.Select(o => o.Seq));
    }

    [Fact]
    public void Outputs_leave_in_order_as_far_as_the_journal_has_committed_and_never_on_an_older_commit()
    {
        var gate = new OutputGate(_released.Add, durable: true);
        gate.Hold([Output(0, 10), Output(1, 20)], entries: 2);
        gate.Hold([Output(2, 30)], entries: 5);
        gate.Journaled(3);
        Assert.Equal([0UL, 1UL], _released.Select(o => o.Seq));
        gate.Journaled(2); // a late, older fact changes nothing
        Assert.Equal(3L, gate.JournaledEntries);
        Assert.Equal(1, gate.HeldCount);
        gate.Journaled(5);
        Assert.Equal([0UL, 1UL, 2UL], _released.Select(o => o.Seq));
    }

    [Fact]
    public void Before_any_commit_is_known_even_an_output_after_no_entries_waits()
    {
        var gate = new OutputGate(_released.Add, durable: true);
        gate.Hold([Output(0, 10)], entries: 0);
        Assert.Empty(_released);
        gate.Journaled(0);
        Assert.Single(_released);
    }

    [Fact]
    public void A_vm_that_is_not_durable_never_waits_for_the_journal()
    {
        var gate = new OutputGate(_released.Add);
        gate.Hold([Output(0, 10)], entries: 9);
        Assert.Single(_released);
        Assert.False(gate.Durable);
    }

    [Fact]
    public void A_lost_secondary_holds_a_durable_output_until_the_claim_even_when_committed()
    {
        var gate = new OutputGate(_released.Add, durable: true);
        var link = new object();
        Authorize(gate, link);
        gate.Hold([Output(0, 100)], entries: 1);
        gate.Journaled(1);
        gate.Hold();
        Assert.Empty(_released);
        gate.GoAlone();
        Assert.Single(_released);
    }
}
