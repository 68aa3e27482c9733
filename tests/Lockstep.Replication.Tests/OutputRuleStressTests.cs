using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The primary loop's threads (VM, channel readers, live copy, the caller's) under random interleavings
/// of attach, dismiss, kill, silence and acks: many short rounds against the kv guest under load.
/// Every release is checked against the acks the secondaries had sent by then: one without a covering ack is
/// legal only while the secondary was being seeded, for an output made before the position the primary then gave it
/// authority at; and nothing may leave between a loss and the next <see cref="PrimaryLoop.GoAlone"/>.
/// </summary>
public sealed class OutputRuleStressTests : PrimaryTestBase
{
    private readonly object _log = new();
    // Guarded by _log: the highest horizon the current secondary acknowledged, and whether outputs may leave without one.
    private ulong _ackedMax;
    private bool _aloneAllowed = true;
    private bool _lost; // the current secondary was reported lost: nothing may leave until GoAlone
    private readonly List<string> _violations = [];
    // Guarded by _log: outputs the current secondary's life released without a covering ack (seq, position).
    private readonly List<(ulong Seq, ulong Position)> _uncovered = [];
    private int _released, _losses;
    private string? _failure;

    [Fact]
    public void No_output_leaves_before_an_ack_covers_it_whatever_the_interleaving()
    {
        var settings = LockstepSettings.Default with { HeartbeatTimeout = TimeSpan.FromMilliseconds(300), ShipInterval = TimeSpan.FromMilliseconds(1) };
        for (int round = 0; round < 12; round++)
        {
            var random = new Random(round);
            lock (_log) { _ackedMax = 0; _aloneAllowed = true; }
            var primary = KvPrimary($"stress{round}", settings);
            primary.Start();
            using var load = new CancellationTokenSource();
            var feeder = new Thread(() =>
            {
                for (int id = 1; !load.IsCancellationRequested; id++)
                {
                    primary.Deliver((uint)(id % 5), Encoding.ASCII.GetBytes($"{id} INCR c{id % 3}"));
                    if (id % 8 == 0) Thread.Sleep(1);
                }
            });
            feeder.Start();
            for (int step = 0; step < 4; step++) RunSecondary(primary, random);
            load.Cancel();
            feeder.Join();
            primary.Kill();
        }
        lock (_log)
        {
            Assert.True(_violations.Count == 0, string.Join("\n", _violations.Take(10)));
            Assert.Null(_failure);
            Assert.True(_released > 1000, $"only {_released} outputs were released: the stress did not stress");
            Assert.True(_losses >= 12, $"only {_losses} losses");
        }
    }

    /// <summary>One secondary's life: attached, acknowledging (or not) for a while, then dismissed, killed or left silent.</summary>
    private void RunSecondary(PrimaryLoop primary, Random random)
    {
        int lossesBefore = Volatile.Read(ref _losses);
        using var secondary = FakeSecondary.Attach(primary);
        secondary.SnapshotPosition();
        lock (_log)
        {
            // The pause is behind us: what was made before it left while the VM was alone; from here this
            // secondary's acks release (an ack of a dismissed one must not count), or its being seeded.
            _ackedMax = 0;
            _aloneAllowed = false;
            _lost = false;
        }
        bool acks = random.Next(4) != 0;
        bool takes = random.Next(3) != 0, taken = false;
        var until = DateTime.UtcNow + TimeSpan.FromMilliseconds(random.Next(20, 120));
        while (DateTime.UtcNow < until)
        {
            if (takes && !taken && secondary.AuthorityAt is { } given)
            {
                secondary.TakeAuthority(given);
                taken = true;
            }
            if (acks && secondary.LastHorizon > 0)
            {
                ulong horizon = random.Next(3) == 0 ? secondary.LastHorizon / 2 : secondary.LastHorizon; // stale acks too
                lock (_log) if (horizon > _ackedMax) _ackedMax = horizon;
                secondary.Ack(horizon);
            }
            Thread.Sleep(random.Next(0, 3));
        }
        switch (random.Next(3))
        {
            case 0: primary.Dismiss(); break;
            case 1: secondary.Drop(); break;
            default: secondary.FallSilent(); break; // silence: the link's heartbeat timeout ends it
        }
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref _losses) > lossesBefore, TimeSpan.FromSeconds(5)), "the loss was never reported");
        Thread.Sleep(random.Next(0, 30)); // held outputs pile up: none may leave
        lock (_log)
        {
            // Without authority given, the secondary could never take over: everything it did not cover was the VM's alone.
            if (secondary.AuthorityAt is { } authority)
                foreach (var (seq, position) in _uncovered.Where(u => u.Position >= authority))
                    _violations.Add($"output #{seq} made at {position} released without an ack, after authority was given at {authority}");
            _uncovered.Clear();
            _aloneAllowed = true; // set before the command: a release after it may be this one's
        }
        primary.GoAlone();
        Thread.Sleep(random.Next(0, 20));
    }

    public override void Released(MachineOutput output)
    {
        lock (_log)
        {
            _released++;
            if (_aloneAllowed || output.Position < _ackedMax) return;
            if (_lost) _violations.Add($"output #{output.Seq} made at {output.Position} released after the loss, before GoAlone");
            else _uncovered.Add((output.Seq, output.Position));
        }
    }

    public override void SecondaryLost(CloseReason reason, string detail)
    {
        lock (_log)
        {
            _aloneAllowed = false;
            _lost = true;
        }
        Interlocked.Increment(ref _losses);
    }

    public override void Ended(VmState state, string detail)
    {
        lock (_log) _failure = $"{state}: {detail}";
    }
}
