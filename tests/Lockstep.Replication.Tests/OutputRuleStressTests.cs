using System.Text;
using Lockstep.Engine.Cpu;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The primary loop's threads (VM, channel readers, live copy, the caller's) under random interleavings
/// of attach, dismiss, kill, silence and acks: many short rounds against the kv guest under load.
/// Every release is checked against the acks the secondaries had sent by then, and nothing may leave
/// between a loss and the next <see cref="PrimaryLoop.GoAlone"/>.
/// </summary>
public sealed class OutputRuleStressTests : PrimaryTestBase
{
    private readonly object _log = new();
    // Guarded by _log: the highest horizon the current secondary acknowledged, and whether outputs may leave without one.
    private ulong _ackedMax;
    private bool _aloneAllowed = true;
    private readonly List<string> _violations = [];
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
            // The pause is behind us: what was made before it left while the VM was alone; from here only
            // this secondary's acks release (an ack of a dismissed one must not count).
            _ackedMax = 0;
            _aloneAllowed = false;
        }
        bool acks = random.Next(4) != 0;
        var until = DateTime.UtcNow + TimeSpan.FromMilliseconds(random.Next(20, 120));
        while (DateTime.UtcNow < until)
        {
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
        lock (_log) _aloneAllowed = true; // set before the command: a release after it may be this one's
        primary.GoAlone();
        Thread.Sleep(random.Next(0, 20));
    }

    public override void Released(MachineOutput output)
    {
        lock (_log)
        {
            _released++;
            if (_aloneAllowed || output.Position < _ackedMax) return;
            _violations.Add($"output #{output.Seq} made at {output.Position} released with acks only up to {_ackedMax}");
        }
    }

    public override void SecondaryLost(CloseReason reason, string detail)
    {
        lock (_log) _aloneAllowed = false;
        Interlocked.Increment(ref _losses);
    }

    public override void Ended(VmState state, string detail)
    {
        lock (_log) _failure = $"{state}: {detail}";
    }
}
