using Lockstep.Engine.Cpu;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The output rule while a secondary is brought in: until it holds the snapshot and has been given authority at a
/// position, it cannot take over, so outputs leave as if the VM were alone; from that position on each output waits for
/// an ack beyond it, and only the secondary's answer to the authority makes the VM protected.
/// </summary>
public sealed class SeedingGateTests
{
    private readonly List<MachineOutput> _released = [];

    private static MachineOutput Output(ulong seq, ulong position) => GateOutputs.Packet(seq, position);

    [Fact]
    public void Outputs_leave_at_once_while_seeding_and_wait_for_acks_once_authority_is_given()
    {
        var gate = new OutputGate(_released.Add);
        var link = new object();
        gate.Link(link);
        gate.Seeding(link, position: 1000);
        gate.Hold([Output(0, 1100)]);
        Assert.Equal([0UL], _released.Select(o => o.Seq)); // seeding: nothing waits for a secondary that cannot take over

        Assert.False(gate.Ack(link, 900, 900)); // short of the snapshot: it does not hold the state yet
        Assert.False(gate.Authorize(link, 950));
        Assert.True(gate.Ack(link, 1000, 1000));
        Assert.False(gate.Ack(link, 1000, 1000)); // once
        gate.Hold([Output(1, 1200)]);
        Assert.Equal([0UL, 1UL], _released.Select(o => o.Seq)); // still seeding until authority is given

        Assert.True(gate.Authorize(link, 1300));
        Assert.False(gate.Authorize(link, 1350)); // given once
        gate.Hold([Output(2, 1400)]);
        Assert.Equal(2, _released.Count);
        gate.Ack(link, 1400, 1300); // not beyond it
        Assert.Equal(2, _released.Count);
        gate.Ack(link, 1401, 1300);
        Assert.Equal([0UL, 1UL, 2UL], _released.Select(o => o.Seq));
    }

    [Fact]
    public void Only_the_current_secondarys_answer_for_the_position_given_makes_the_vm_protected_once()
    {
        var gate = new OutputGate(_released.Add);
        var stale = new object();
        var link = new object();
        gate.Link(stale);
        gate.Link(link);
        gate.Seeding(link, position: 50);
        Assert.False(gate.Ack(stale, 50, 50)); // a dismissed secondary's ack
        Assert.False(gate.AuthorityTaken(link, 60)); // nothing given yet
        Assert.True(gate.Ack(link, 50, 50));
        Assert.False(gate.Authorize(stale, 60));
        Assert.True(gate.Authorize(link, 60));
        Assert.False(gate.Drained(60)); // given, not taken

        Assert.False(gate.AuthorityTaken(stale, 60));
        Assert.False(gate.AuthorityTaken(link, 59));
        Assert.True(gate.AuthorityTaken(link, 60));
        Assert.False(gate.AuthorityTaken(link, 60));
        Assert.False(gate.Drained(61));
        gate.Ack(link, 61, 61);
        Assert.True(gate.Drained(61));
    }

    [Fact]
    public void A_secondary_lost_while_seeding_holds_outputs_until_the_claim()
    {
        var gate = new OutputGate(_released.Add);
        var link = new object();
        gate.Link(link);
        gate.Seeding(link, position: 10);
        gate.Hold(); // lost: another side might claim, so nothing leaves until this one holds the next generation
        gate.Hold([Output(0, 20)]);
        Assert.Empty(_released);
        Assert.False(gate.Ack(link, 10, 10));
        Assert.False(gate.Authorize(link, 20));
        gate.GoAlone();
        Assert.Single(_released);
    }
}
