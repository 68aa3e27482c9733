namespace Lockstep.Cluster.Tests;

/// <summary>
/// The multi-host set-up: every node on one PostgreSQL database (journal, snapshots and claims),
/// with a real server. test.sh starts a private one and names it in LOCKSTEP_TEST_POSTGRES.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PostgresJournalTests(ProgramFixture program, ITestOutputHelper output)
{
    private const string Key = "p";
    private const uint Peer = 7;
    private const int Requests = 120;

    [Fact]
    public async Task KillPrimaryThenRestartTheWholeClusterOnPostgres()
    {
        string? connection = Environment.GetEnvironmentVariable("LOCKSTEP_TEST_POSTGRES");
        Assert.False(string.IsNullOrWhiteSpace(connection),
            "LOCKSTEP_TEST_POSTGRES is not set: run ./test.sh (it starts a private PostgreSQL server), or set it to the "
            + "connection string of a database this test may write to, e.g. Host=127.0.0.1;Username=u;Password=p;Database=d");
        string journal = $"postgres:{connection}";
        // A name of its own, so that a database reused by an earlier run cannot hand this test an old VM.
        string vm = $"pg{Guid.NewGuid().ToString("N")[..8]}";

        await using (var cluster = new TestCluster(program, output, "PostgresKill", 4640, journal))
        {
            await cluster.StartNodes();
            var before = await cluster.CreateKv(vm);
            await IncrStream.Start(cluster, vm, Peer, "a", Key, Requests).RunThroughFault(
                () => cluster.KillNode(cluster.NodeAt(before.Primary)), "the primary was killed", 30, TimeSpan.FromSeconds(90));
            await cluster.WaitForStatus(vm, s => s.State == "Protected" && s.Generation > before.Generation,
                TimeSpan.FromSeconds(20), $"Protected again with a generation above {before.Generation}");
            cluster.Passed();
        } // every node killed: all that is left of the VM is in PostgreSQL

        await using (var restarted = new TestCluster(program, output, "PostgresRestart", 4650, journal))
        {
            await restarted.StartNodes();
            // Remembered entities bring the VM back without being asked; its state comes from the journal.
            await restarted.WaitForStatus(vm, s => s.State == "Protected" && s.Primary is not null && s.Secondary is not null,
                TimeSpan.FromSeconds(60), "back and Protected after the full restart");
            // From another peer: the rebuilt VM sends its last answers to peer 7 again (their release was
            // never recorded), which a session of peer 7 would print among its own.
            var more = IncrStream.Start(restarted, vm, Peer + 1, "b", Key, 10);
            more.AssertExactlyOnce(await more.Finish(TimeSpan.FromSeconds(90)), before: Requests);
            restarted.Passed();
        }
    }
}
