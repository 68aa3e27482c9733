using Akka.Cluster.Sharding;
using Akka.Actor;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Tests;

/// <summary>
/// Multi-node tests: real ActorSystems joined over loopback, real executors and lockstep channels;
/// nodes are killed by terminating their actor systems (their sockets close, as a crash would).
/// </summary>
[Collection("cluster")]
public sealed class FailoverTests : Akka.TestKit.Xunit2.TestKit
{
    private static byte[] Kv => File.ReadAllBytes(RepoRoot.Guest("kv"));

    private static void Create(InProcessCluster cluster, string name)
    {
        var reply = cluster.Ask<object>(new CreateVm(name, Kv, 16 * 1024 * 1024), TimeSpan.FromSeconds(15));
        Assert.IsType<ControlOk>(reply);
    }

    /// <summary>Sends INCRs for ids [from, to) and checks each answer is the next integer.</summary>
    private static int CountUp(KvClient client, int from, int to, int expectedStart)
    {
        int value = expectedStart;
        for (int id = from; id < to; id++)
        {
            string answer = client.Request($"{id} INCR counter");
            Assert.Equal($"{id} {value + 1}", answer);
            value++;
        }
        return value;
    }

    [Fact]
    public void Normal_operation_places_primary_and_secondary_apart_and_answers()
    {
        using var cluster = new InProcessCluster(4710, 3);
        Create(cluster, "kv");
        var status = cluster.WaitForProtected("kv");
        Assert.NotNull(status.Primary);
        Assert.NotNull(status.Secondary);
        Assert.NotEqual(status.Primary, status.Secondary);
        using var client = new KvClient(this, cluster, 4719, "kv", 3);
        Assert.Equal("1 OK", client.Request("1 PUT a 5"));
        Assert.Equal("2 VALUE 5", client.Request("2 GET a"));
        Assert.Equal("3 6", client.Request("3 INCR a"));
        Assert.Equal("3 6", client.Request("3 INCR a")); // a repeated id is answered, not executed again
        Assert.Equal("4 VALUE 6", client.Request("4 GET a"));
        // Replica check: it samples the guest while it runs, so keep a client busy meanwhile.
        using var busy = new KvClient(this, cluster, 4718, "kv", 4);
        var load = new Thread(() => { for (int i = 100; i < 400; i++) busy.Request($"{i} INCR busy"); });
        load.Start();
        var check = Assert.IsType<ReplicaCheck>(cluster.Ask<object>(new CheckReplicas("kv"), TimeSpan.FromSeconds(20)));
        Assert.True(check.Match, $"primary 0x{check.PrimaryHash:x16} vs secondary 0x{check.SecondaryHash:x16} at {check.Position}");
        Assert.NotEqual(0UL, check.PrimaryHash);
        Assert.True(load.Join(TimeSpan.FromSeconds(60)), "the busy client did not finish");
        var duplicate = cluster.Ask<object>(new CreateVm("kv", Kv, 16 * 1024 * 1024));
        Assert.Equal(ControlErrorKind.AlreadyExists, Assert.IsType<ControlError>(duplicate).Kind);
        Assert.Equal(ControlErrorKind.UnknownVm, Assert.IsType<ControlError>(cluster.Ask<object>(new GetVmStatus("nope"))).Kind);
    }

    [Fact]
    public void Killing_the_primary_node_loses_nothing_and_reprotects()
    {
        using var cluster = new InProcessCluster(4720, 3);
        Create(cluster, "kv");
        var before = cluster.WaitForProtected("kv");
        using var client = new KvClient(this, cluster, 4729, "kv", 1);
        int value = CountUp(client, 1, 21, 0);
        cluster.Kill(cluster.IndexOf(before.Primary!));
        value = CountUp(client, 21, 41, value);
        var after = cluster.WaitForProtected("kv", before.Generation + 1);
        Assert.Equal(before.Secondary, after.Primary);
        Assert.NotEqual(before.Primary, after.Secondary);
        Assert.Single(after.History);
        Assert.Equal($"41 VALUE {value}", client.Request("41 GET counter"));
    }

    [Fact]
    public void Killing_the_secondary_node_keeps_serving_and_reprotects()
    {
        using var cluster = new InProcessCluster(4730, 3);
        Create(cluster, "kv");
        var before = cluster.WaitForProtected("kv");
        using var client = new KvClient(this, cluster, 4739, "kv", 1);
        int value = CountUp(client, 1, 11, 0);
        cluster.Kill(cluster.IndexOf(before.Secondary!));
        value = CountUp(client, 11, 31, value);
        var after = cluster.WaitForProtected("kv", before.Generation + 1);
        Assert.Equal(before.Primary, after.Primary);
        Assert.NotEqual(before.Secondary, after.Secondary);
        Assert.Equal($"31 VALUE {value}", client.Request("31 GET counter"));
    }

    [Fact]
    public void Killing_the_node_of_coordinator_and_primary_together_loses_nothing()
    {
        using var cluster = new InProcessCluster(4740, 3);
        // Placement of coordinators (sharding) and primaries (ours) is independent: make VMs and move
        // primaries by test failovers until one VM has both on the same node.
        string? chosen = null;
        VmStatus? status = null;
        for (int vm = 0; vm < 4 && chosen is null; vm++)
        {
            string name = $"kv{vm}";
            Create(cluster, name);
            status = cluster.WaitForProtected(name);
            int coordinator = CoordinatorNode(cluster, name);
            for (int attempt = 0; attempt < 3 && cluster.IndexOf(status.Primary!) != coordinator; attempt++)
            {
                Assert.IsType<ControlOk>(cluster.Ask<object>(new TestFailover(name)));
                status = cluster.WaitForProtected(name, status.Generation + 1);
            }
            if (cluster.IndexOf(status.Primary!) == coordinator) chosen = name;
        }
        Assert.NotNull(chosen);
        using var client = new KvClient(this, cluster, 4749, chosen, 1);
        int value = CountUp(client, 1, 6, 0);
        cluster.Kill(cluster.IndexOf(status!.Primary!));
        value = CountUp(client, 6, 26, value);
        var after = cluster.WaitForProtected(chosen, status.Generation + 1, TimeSpan.FromSeconds(60));
        Assert.NotEqual(status.Primary, after.Primary);
        Assert.Equal($"26 VALUE {value}", client.Request("26 GET counter"));
    }

    [Fact]
    public void Repeated_test_failovers_in_a_row_keep_the_count_exact()
    {
        using var cluster = new InProcessCluster(4750, 3);
        Create(cluster, "kv");
        var status = cluster.WaitForProtected("kv");
        using var client = new KvClient(this, cluster, 4759, "kv", 1);
        int value = 0, id = 1;
        var primaries = new HashSet<string>();
        for (int round = 0; round < 4; round++)
        {
            value = CountUp(client, id, id + 10, value);
            id += 10;
            primaries.Add(status.Primary!);
            Assert.IsType<ControlOk>(cluster.Ask<object>(new TestFailover("kv")));
            status = cluster.WaitForProtected("kv", status.Generation + 1);
        }
        value = CountUp(client, id, id + 5, value);
        Assert.Equal(45, value);
        Assert.True(primaries.Count >= 2, "the primary should have moved between nodes");
        Assert.Equal(4, status.History.Count);
    }

    [Fact]
    public void A_late_copy_of_an_answered_request_stays_out_before_and_after_failover()
    {
        using var cluster = new InProcessCluster(4780, 3);
        Create(cluster, "kv");
        var before = cluster.WaitForProtected("kv");
        using var client = new KvClient(this, cluster, 4789, "kv", 1);
        const long session = 0x5E55;
        // One request at a time, as `vm send` with a window of 1: request i is ordinal i - 1.
        DeliveryTag Tag(int id) => new(session, id - 1, AnsweredBelow: id - 1);
        for (int id = 1; id <= 70; id++)
            Assert.Equal($"{id} {id}", client.Request($"{id} INCR counter", tag: Tag(id)));

        // kv remembers the last 64 ids per peer, so without a tag a copy this late runs again.
        client.Send("1 INCR counter");
        Assert.Equal("71 VALUE 71", WhenSettled(() => client.Request("71 GET counter")));

        // With its tag, the same late copy is recognised as answered and never reaches the guest,
        client.Send("1 INCR counter", Tag(1));
        Assert.Equal("72 VALUE 71", WhenSettled(() => client.Request("72 GET counter", tag: Tag(72))));
        // and the promoted secondary knows it too.
        cluster.Kill(cluster.IndexOf(before.Primary!));
        Assert.Equal("73 72", client.Request("73 INCR counter", tag: Tag(73)));
        client.Send("2 INCR counter", Tag(2));
        Assert.Equal("74 VALUE 72", WhenSettled(() => client.Request("74 GET counter", tag: Tag(74))));
        var after = cluster.WaitForProtected("kv", before.Generation + 1);
        Assert.NotEqual(before.Primary, after.Primary);
    }

    [Fact]
    public void A_locked_journal_file_neither_stops_a_failover_nor_loses_the_journal()
    {
        string storage = Directory.CreateTempSubdirectory("lockstep-locked-").FullName;
        try
        {
            int value;
            using (var cluster = new InProcessCluster(4790, 3, storage))
            {
                Create(cluster, "kv");
                var before = cluster.WaitForProtected("kv");
                using var client = new KvClient(this, cluster, 4799, "kv", 1);
                value = CountUp(client, 1, 11, 0);
                // A node frozen in the middle of a journal write holds the file's write lock until it resumes.
                using (var frozenWriter = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(storage, "lockstep.db")};Pooling=False"))
                {
                    frozenWriter.Open();
                    using (var begin = frozenWriter.CreateCommand())
                    {
                        begin.CommandText = "BEGIN IMMEDIATE";
                        begin.ExecuteNonQuery();
                    }
                    cluster.Kill(cluster.IndexOf(before.Primary!));
                    value = CountUp(client, 11, 31, value);
                    var after = cluster.WaitForProtected("kv", before.Generation + 1);
                    Assert.Equal(before.Secondary, after.Primary);
                }
                value = CountUp(client, 31, 41, value);
                Thread.Sleep(3000); // the journal catches up (or restarts with a fresh checkpoint) and a batch is written
            }
            using (var cluster = new InProcessCluster(4800, 3, storage))
            {
                cluster.WaitForProtected("kv", 2, TimeSpan.FromSeconds(60));
                using var client = new KvClient(this, cluster, 4809, "kv", 1);
                Assert.Equal($"41 VALUE {value}", client.Request("41 GET counter", TimeSpan.FromSeconds(30)));
            }
        }
        finally
        {
            InProcessCluster.DeleteStorage(storage);
        }
    }

    /// <summary>Runs <paramref name="request"/> once a packet sent just before has had time to arrive (gateways differ in order).</summary>
    private static string WhenSettled(Func<string> request)
    {
        Thread.Sleep(500);
        return request();
    }

    [Fact]
    public void A_whole_cluster_restart_brings_the_vm_back_from_the_journal()
    {
        string storage = Directory.CreateTempSubdirectory("lockstep-restart-").FullName;
        try
        {
            int value;
            using (var cluster = new InProcessCluster(4760, 3, storage))
            {
                Create(cluster, "kv");
                cluster.WaitForProtected("kv");
                using var client = new KvClient(this, cluster, 4769, "kv", 1);
                value = CountUp(client, 1, 21, 0);
                Thread.Sleep(1000); // the journal copy trails the live log by up to a batch (200 ms)
            }
            using (var cluster = new InProcessCluster(4770, 3, storage))
            {
                // Remembered entities restart the coordinator; with no live primary it rebuilds one from the journal.
                var status = cluster.WaitForProtected("kv", 2, TimeSpan.FromSeconds(60));
                using var client = new KvClient(this, cluster, 4779, "kv", 1);
                Assert.Equal($"21 VALUE {value}", client.Request("21 GET counter", TimeSpan.FromSeconds(30)));
                Assert.Equal($"22 {value + 1}", client.Request("22 INCR counter"));
                Assert.True(status.Generation >= 2);
            }
        }
        finally
        {
            InProcessCluster.DeleteStorage(storage);
        }
    }

    private static int CoordinatorNode(InProcessCluster cluster, string name)
    {
        foreach (var node in cluster.Alive)
        {
            var state = node.VmRegion.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, TimeSpan.FromSeconds(5)).GetAwaiter().GetResult();
            if (state.Shards.Any(s => s.EntityIds.Contains(name)))
            {
                var address = Akka.Cluster.Cluster.Get(node.System).SelfAddress;
                return cluster.IndexOf($"{address.Host}:{address.Port}");
            }
        }
        throw new InvalidOperationException($"no node hosts the coordinator of {name}");
    }
}
