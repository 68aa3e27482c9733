using Lockstep.Actors.Protocol;
using Lockstep.Replication;

namespace Lockstep.Actors.Tests;

/// <summary>
/// The FT operations an operator has (vSphere's Turn Off / Suspend / Resume / Migrate Secondary, and pause)
/// on a real three-node cluster in this process, with a client counting up through all of them.
/// </summary>
[Collection("cluster")]
public sealed class OperationsTests : Akka.TestKit.Xunit2.TestKit
{
    private static byte[] Kv => File.ReadAllBytes(RepoRoot.Guest("kv"));

    private static int CountUp(KvClient client, int from, int to, int value)
    {
        for (int id = from; id < to; id++) Assert.Equal($"{id} {++value}", client.Request($"{id} INCR counter"));
        return value;
    }

    private static VmStatus WaitFor(InProcessCluster cluster, Func<VmStatus, bool> condition, string what)
    {
        VmStatus? status = null;
        InProcessCluster.WaitUntil(() => (status = cluster.Status("ops")) is { } s && condition(s), TimeSpan.FromSeconds(30),
            $"{what} (last: {status?.State}, secondary {status?.Secondary})");
        return status!;
    }

    private static string Ok(InProcessCluster cluster, IControlRequest request) => Assert.IsType<ControlOk>(cluster.Ask<object>(request)).Message;

    [Fact]
    public void Protection_turned_off_suspended_resumed_and_moved_while_the_vm_serves_every_request_once()
    {
        using var cluster = new InProcessCluster(4880, 3);
        Assert.IsType<ControlOk>(cluster.Ask<object>(new CreateVm("ops", Kv, 16 << 20), TimeSpan.FromSeconds(15)));
        var start = cluster.WaitForProtected("ops");
        using var client = new KvClient(this, cluster, 4889, "ops", 1);
        int value = CountUp(client, 1, 11, 0);

        // Off: the secondary goes, the VM runs on alone, by choice; asking again changes nothing.
        Ok(cluster, new SetProtection("ops", ProtectionMode.Off));
        var off = WaitFor(cluster, s => s.State == VmState.Unprotected, "Unprotected");
        Assert.Null(off.Secondary);
        Assert.Contains("already", Ok(cluster, new SetProtection("ops", ProtectionMode.Off)));
        value = CountUp(client, 11, 21, value);
        Thread.Sleep(1500); // nothing brings a secondary back by itself, not even the primary's fallback
        Assert.Equal(VmState.Unprotected, cluster.Status("ops")!.State);

        // On again: a new secondary from a live copy.
        Ok(cluster, new SetProtection("ops", ProtectionMode.On));
        var on = cluster.WaitForProtected("ops", off.Generation);
        value = CountUp(client, 21, 31, value);

        // Suspend, then resume: the secondary comes back on the node it was on.
        Ok(cluster, new SetProtection("ops", ProtectionMode.Suspended));
        WaitFor(cluster, s => s.State == VmState.Suspended && s.Secondary is null, "Suspended");
        value = CountUp(client, 31, 41, value);
        Ok(cluster, new SetProtection("ops", ProtectionMode.On));
        var resumed = cluster.WaitForProtected("ops");
        Assert.True(on.Secondary == resumed.Secondary, $"resumed with the secondary on {resumed.Secondary}, not on {on.Secondary} where it was; history: "
            + string.Join("; ", resumed.History.Select(h => $"{h.At:HH:mm:ss.fff} {h.Reason} (generation {h.Generation})")));

        // Migrate the secondary to the third node; refusals for nodes it cannot go to.
        string third = cluster.Alive.Select(n => $"{Akka.Cluster.Cluster.Get(n.System).SelfAddress.Host}:{Akka.Cluster.Cluster.Get(n.System).SelfAddress.Port}")
            .Single(n => n != resumed.Primary && n != resumed.Secondary);
        Assert.Equal(ControlErrorKind.Invalid, Assert.IsType<ControlError>(cluster.Ask<object>(new MigrateSecondary("ops", resumed.Primary!))).Kind);
        Assert.Equal(ControlErrorKind.UnknownNode, Assert.IsType<ControlError>(cluster.Ask<object>(new MigrateSecondary("ops", "127.0.0.1:1"))).Kind);
        Assert.Contains("already", Ok(cluster, new MigrateSecondary("ops", resumed.Secondary!)));
        Ok(cluster, new MigrateSecondary("ops", third));
        var moved = WaitFor(cluster, s => s.State == VmState.Protected && s.Secondary == third, $"Protected with the secondary on {third}");
        Assert.Equal(start.Primary, moved.Primary);
        value = CountUp(client, 41, 51, value);

        Assert.Equal($"51 VALUE {value}", client.Request("51 GET counter"));
        var history = moved.History.Where(h => h.Kind == HistoryKind.Operation).Select(h => h.Reason).ToList();
        Assert.Contains("fault tolerance turned off by the operator", history);
        Assert.Contains("fault tolerance turned on by the operator", history);
        Assert.Contains("protection suspended by the operator", history);
        Assert.Contains("protection resumed by the operator", history);
        Assert.Contains($"secondary migrated to {third} by the operator", history);
        Assert.DoesNotContain(moved.History, h => h.Kind == HistoryKind.Failover);
    }

    [Fact]
    public void A_paused_guest_answers_nothing_until_resumed_and_then_answers_what_queued()
    {
        using var cluster = new InProcessCluster(4890, 3);
        Assert.IsType<ControlOk>(cluster.Ask<object>(new CreateVm("ops", Kv, 16 << 20), TimeSpan.FromSeconds(15)));
        cluster.WaitForProtected("ops");
        using var client = new KvClient(this, cluster, 4899, "ops", 1);
        int value = CountUp(client, 1, 6, 0);

        Ok(cluster, new PauseVm("ops"));
        Assert.Throws<TimeoutException>(() => client.Request("6 INCR counter", TimeSpan.FromSeconds(2)));
        Ok(cluster, new ResumeVm("ops"));
        // The copies sent while paused were queued and are answered now; the id is answered once.
        Assert.Equal($"6 {value + 1}", client.Request("6 INCR counter"));
        Assert.Equal($"7 VALUE {value + 1}", client.Request("7 GET counter"));
        Assert.Equal(VmState.Protected, cluster.Status("ops")!.State);
    }
}
