using System.Globalization;
using System.Text.Json;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// `vm create --durable`: an output leaves only once the journal has committed the log before it, so losing
/// both hosts of a VM at once (kill -9 of its primary's and its secondary's nodes together) loses no state a
/// client saw acknowledged: the VM is rebuilt from the journal on a surviving node, and its counter is at
/// least the last INCR answered before the kill. Five nodes, so that the three survivors are a majority
/// (keep-majority would down an even split's half that lacks the lowest address).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class DurableTests(ProgramFixture program, ITestOutputHelper output)
{
    private const string Key = "c";

    [Fact]
    public Task ADurableVmKeepsEveryAcknowledgedIncrWhenBothItsHostsDie() =>
        BothHostsDie(nameof(ADurableVmKeepsEveryAcknowledgedIncrWhenBothItsHostsDie), 5900, journal: null);

    [Fact]
    public Task ADurableVmKeepsEveryAcknowledgedIncrWhenBothItsHostsDieOnPostgres()
    {
        string? connection = Environment.GetEnvironmentVariable("LOCKSTEP_TEST_POSTGRES");
        Assert.False(string.IsNullOrWhiteSpace(connection),
            "LOCKSTEP_TEST_POSTGRES is not set: run ./test.sh (it starts a private PostgreSQL server), or set it to a connection string");
        return BothHostsDie(nameof(ADurableVmKeepsEveryAcknowledgedIncrWhenBothItsHostsDieOnPostgres), 5910, $"postgres:{connection}");
    }

    private async Task BothHostsDie(string test, int basePort, string? journal)
    {
        // Its own name: a PostgreSQL database reused by an earlier run must not hand this test an old VM.
        string vm = $"d{Guid.NewGuid().ToString("N")[..8]}";
        await using var cluster = new TestCluster(program, output, test, basePort, journal);
        await cluster.StartNodes(5);
        var created = await cluster.Cli(["vm", "create", vm, "--image", program.KvImage, "--durable", "--contact", cluster.Contact]);
        Assert.True(created.ExitCode == 0, $"vm create --durable failed: {created}");
        var before = await cluster.WaitForStatus(vm, s => s.State == "Protected" && s.Primary is not null && s.Secondary is not null,
            TimeSpan.FromSeconds(40), "Protected");
        Assert.True(CommittedEntries(before) is >= 0, $"a durable VM's status shows no committed journal position: {before.Json}");

        var send = cluster.StartSend(vm, 9);
        int written = 0;
        using var stopFeeding = new CancellationTokenSource();
        var feeder = Task.Run(async () =>
        {
            while (!stopFeeding.IsCancellationRequested)
            {
                await send.Stdin.WriteLineAsync($"a{++written} INCR {Key}");
                await send.Stdin.FlushAsync();
                await Task.Delay(10);
            }
        });
        Assert.True(await send.WaitForOutput(p => p.StdoutLines.Count >= 40, TimeSpan.FromSeconds(60), cluster.Cancel),
            $"only {send.StdoutLines.Count} answers before the fault; stderr:\n{string.Join("\n", send.StderrLines)}");

        var primary = cluster.NodeAt(before.Primary);
        var secondary = cluster.NodeAt(before.Secondary);
        cluster.KillNode(primary);
        cluster.KillNode(secondary);
        stopFeeding.Cancel();
        await feeder.WaitAsync(TimeSpan.FromSeconds(5));
        // Answers still on their way left the primary before it died; nothing can answer for seconds now
        // (the VM's coordinator comes back only once the dead nodes are downed).
        await Task.Delay(1500);
        send.Kill();
        var answers = send.StdoutLines.Select(Value).ToList();
        long acknowledged = answers.Max();
        int unanswered = written - answers.Count;
        cluster.Log($"{answers.Count} INCRs answered before the double kill (last value {acknowledged}), {unanswered} written but not answered");
        Assert.Equal(Enumerable.Range(1, answers.Count).Select(i => (long)i), answers);

        var survivors = cluster.Contacts.ToList();
        var after = await cluster.WaitForStatus(vm,
            s => s.Generation > before.Generation && survivors.Any(n => n.Endpoint == s.Primary) && s.State is "Protected" or "NotProtected",
            TimeSpan.FromSeconds(120), "running again on a surviving node", survivors);
        var get = await cluster.Cli(["vm", "send", vm, "--peer", "10", "--retry-ms", "300", "--timeout", "30", "--contact", cluster.Contact],
            stdin: "g1 GET c\n");
        Assert.True(get.ExitCode == 0, $"GET failed: {get}");
        string line = Assert.Single(get.Stdout);
        Assert.StartsWith("g1 VALUE ", line);
        long value = long.Parse(line["g1 VALUE ".Length..], CultureInfo.InvariantCulture);
        cluster.Log($"after the rebuild on {after.Primary}: {Key} = {value}");
        Assert.True(value >= acknowledged, $"the rebuilt VM lost acknowledged INCRs: {Key} = {value}, but {acknowledged} was answered before the kill");
        // At most the requests that were on their way may have been committed without their answer getting out.
        Assert.True(value <= acknowledged + unanswered, $"{Key} = {value}: more than the {acknowledged} + {unanswered} INCRs sent");
        cluster.Passed();
    }

    /// <summary>
    /// The journal cannot commit (another connection holds SQLite's write lock): a durable VM runs on but answers
    /// nothing, its status says how many outputs are held and for how long the journal write has waited, and
    /// once the lock goes the held answer leaves, with the right value.
    /// </summary>
    [Fact]
    public async Task ADurableVmHoldsItsOutputsWhileTheJournalCannotCommitAndSaysSo()
    {
        await using var cluster = new TestCluster(program, output, nameof(ADurableVmHoldsItsOutputsWhileTheJournalCannotCommitAndSaysSo), 5920);
        await cluster.StartNodes();
        var created = await cluster.Cli(["vm", "create", "held", "--image", program.KvImage, "--durable", "--contact", cluster.Contact]);
        Assert.True(created.ExitCode == 0, $"vm create --durable failed: {created}");
        await cluster.WaitForStatus("held", s => s.State == "Protected", TimeSpan.FromSeconds(40), "Protected");
        var send = cluster.StartSend("held", 3);
        await send.Stdin.WriteLineAsync($"a1 INCR {Key}");
        await send.Stdin.FlushAsync();
        Assert.True(await send.WaitForOutput(p => p.StdoutLines.Count >= 1, TimeSpan.FromSeconds(30), cluster.Cancel), "the first INCR was not answered");
        Assert.Equal("a1 1", send.StdoutLines[0]);

        using (var holder = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={cluster.Journal["sqlite:".Length..]};Pooling=False"))
        {
            holder.Open();
            using (var begin = holder.CreateCommand())
            {
                begin.CommandText = "BEGIN EXCLUSIVE";
                begin.ExecuteNonQuery();
            }
            cluster.Log("the journal's write lock is taken");
            var locked = System.Diagnostics.Stopwatch.StartNew();
            await send.Stdin.WriteLineAsync($"a2 INCR {Key}");
            await send.Stdin.FlushAsync();
            // The lock is let go within 7 s, before Akka.Persistence's call timeout (10 s) fails the write: this is
            // the outage the write rides out. (A longer one fails the write and restarts the writer; see the docs.)
            var status = cluster.Status("held");
            await Task.WhenAny(status, Task.Delay(TimeSpan.FromSeconds(7), cluster.Cancel));
            if (locked.Elapsed < TimeSpan.FromSeconds(3)) await Task.Delay(TimeSpan.FromSeconds(3) - locked.Elapsed, cluster.Cancel);
            Assert.True(send.StdoutLines.Count == 1, $"an answer left while the journal could not commit: {string.Join(" | ", send.StdoutLines)}");
            Assert.True(status.IsCompleted, "vm status did not answer within 7 s while the journal was locked");
            var seen = await status;
            Assert.NotNull(seen);
            using var document = JsonDocument.Parse(seen.Json);
            var journal = document.RootElement.GetProperty("figures").GetProperty("journal");
            Assert.True(journal.GetProperty("heldOutputs").GetInt32() >= 1, $"the status shows no held output: {seen.Json}");
            Assert.True(journal.GetProperty("writeWaitingMs").GetDouble() > 0 || journal.GetProperty("problem").ValueKind == JsonValueKind.String,
                $"the status does not show the journal write waiting: {seen.Json}");
            Assert.Equal("Protected", seen.State); // the VM itself runs on; only its outputs wait
            // Explicitly: a transaction begun in SQL text is not one the connection knows to roll back on close.
            using (var rollback = holder.CreateCommand())
            {
                rollback.CommandText = "ROLLBACK";
                rollback.ExecuteNonQuery();
            }
            cluster.Log($"the journal's write lock goes after {locked.Elapsed.TotalSeconds:F1} s");
        }

        Assert.True(await send.WaitForOutput(p => p.StdoutLines.Count >= 2, TimeSpan.FromSeconds(60), cluster.Cancel),
            "the held answer did not leave once the journal could commit again");
        Assert.Equal("a2 2", send.StdoutLines[1]);
        send.Stdin.Close();
        Assert.True(await send.WaitForExit(TimeSpan.FromSeconds(30), cluster.Cancel), "vm send did not end");
        cluster.Passed();
    }

    private static long Value(string answer)
    {
        string[] parts = answer.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(parts.Length == 2 && long.TryParse(parts[1], CultureInfo.InvariantCulture, out _), $"not an INCR answer: '{answer}'");
        return long.Parse(parts[1], CultureInfo.InvariantCulture);
    }

    private static long? CommittedEntries(VmStatusView status)
    {
        using var document = JsonDocument.Parse(status.Json);
        return document.RootElement.TryGetProperty("figures", out var figures) && figures.ValueKind == JsonValueKind.Object
            && figures.TryGetProperty("journal", out var journal) && journal.ValueKind == JsonValueKind.Object
            ? journal.GetProperty("committedEntries").GetInt64()
            : null;
    }
}
