using System.Diagnostics;
using Lockstep.Harness;
using Microsoft.Data.Sqlite;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A real network partition: the nodes run in Linux network namespaces on one bridge, and the
/// primary's node is cut off the bridge while its process and the secondary both keep running.
/// Both sides then see the lockstep channel go silent; only the one that wins the claim in the
/// shared storage (the SQLite file every node reaches, as a SAN would) may go on alone.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PartitionTests(ProgramFixture program, ITestOutputHelper output)
{
    private const string Vm = "kv1";
    private const string Key = "c";
    private const uint Peer = 9;
    private const int Requests = 200;
    private const int MoreRequests = 20;
    private const int AnswersBeforeCut = 30;
    private const int BasePort = 4700;
    private const string LostClaimLine = "was claimed by another side; this primary stops";

    private static readonly TimeSpan StreamTimeout = TimeSpan.FromSeconds(60);

    /// <summary>How soon after the cut the old primary must have given up its claim.</summary>
    private static readonly TimeSpan LostClaimWithin = TimeSpan.FromSeconds(10);

    [NetworkNamespaceFact]
    public async Task PartitionedPrimary_NeverTwoLiveSides()
    {
        await using var cluster = new NamespaceCluster(program, output, nameof(PartitionedPrimary_NeverTwoLiveSides), BasePort);
        await cluster.StartNodes();
        var before = await cluster.CreateKv(Vm);
        var cutOff = cluster.NodeAt(before.Primary);
        var oldSecondary = cluster.NodeAt(before.Secondary);
        var staying = cluster.Nodes.Where(n => n != cutOff).ToList();
        cluster.Log($"primary on {cutOff}, secondary on {oldSecondary}; {cutOff.Endpoint} will be cut off");

        // 2. A stream through the nodes that stay connected; the primary's node is cut off in the middle of it.
        var stream = IncrStream.Start(cluster, Vm, Peer, "a", Key, Requests, staying);
        await stream.WaitForAnswers(AnswersBeforeCut, TimeSpan.FromSeconds(60));
        int answeredAtCut = stream.Answered;
        using var stopWatching = CancellationTokenSource.CreateLinkedTokenSource(cluster.Cancel);
        var sinceCut = Stopwatch.StartNew();
        cluster.CutOff(cutOff);
        Assert.True(answeredAtCut < Requests, $"the stream was over ({answeredAtCut} answers) before the cut");
        Assert.False(cutOff.Process.HasExited, "the cut-off node's process had already exited at the cut");
        // Watched from the cut on: how soon the old primary says it lost the claim.
        TimeSpan? steppedAfter = null;
        var stepping = Task.Run(async () =>
        {
            try
            {
                if (await cutOff.Process.WaitForOutput(p => p.AllOutput.Contains(LostClaimLine, StringComparison.Ordinal),
                        LostClaimWithin, stopWatching.Token))
                    steppedAfter = sinceCut.Elapsed;
            }
            catch (OperationCanceledException)
            {
            }
        });

        var watcher = WatchStatus(cluster, staying, stopWatching.Token);
        List<(TimeSpan At, VmStatusView Status)> views = [];
        try
        {
            // 3. Who won the next generation? Both sides see the channel go silent and race for it in the shared storage.
            var decided = await WaitForClaim(cluster, before.Generation + 1, TimeSpan.FromSeconds(10));
            cluster.Log($"generation {before.Generation + 1} claimed {sinceCut.Elapsed.TotalSeconds:F1} s after the cut by {decided?.Owner ?? "nobody"}");
            Assert.True(decided is not null, $"nobody claimed generation {before.Generation + 1} within 10 s of the cut");
            if (OwnedBy(decided.Owner, cutOff))
            {
                // Fail at once, with what each side said: waiting for answers that cannot come would only take time.
                string secondaryEnds = $"secondary of {Vm} ends";
                await oldSecondary.Process.WaitForOutput(p => p.AllOutput.Contains(secondaryEnds, StringComparison.Ordinal),
                    TimeSpan.FromSeconds(5), cluster.Cancel);
                var said = oldSecondary.Output.Split('\n').Where(l => l.Contains(secondaryEnds, StringComparison.Ordinal))
                    .Concat(cutOff.Output.Split('\n').Where(l => l.Contains("secondary lost", StringComparison.Ordinal)));
                Assert.Fail($"the cut-off primary won generation {decided.Generation} ({decided.Owner}) {sinceCut.Elapsed.TotalSeconds:F1} s " +
                    "after the cut: the only live side is the one no client and no other node can reach, and the secondary on the " +
                    $"connected side stopped:\n{string.Join("\n", said)}");
            }

            // The secondary takes over; the INCR answers stay exact.
            int resumeAt = Math.Min(Requests, stream.Answered + 1);
            await stream.WaitForAnswers(resumeAt, StreamTimeout);
            cluster.Log($"answers going on {sinceCut.Elapsed.TotalSeconds:F1} s after the cut ({stream.Answered} so far)");
            var progress = LogProgress(cluster, stream, sinceCut, stopWatching.Token);
            var lines = await stream.Finish(StreamTimeout);
            await progress;
            cluster.Log($"all {Requests} answered {sinceCut.Elapsed.TotalSeconds:F1} s after the cut");
            stream.AssertExactlyOnce(lines, before: 0);

            var takenOver = await cluster.WaitForStatus(Vm,
                s => staying.Any(n => n.Endpoint == s.Primary) && s.Generation > before.Generation,
                TimeSpan.FromSeconds(20), $"a primary on a connected node with a generation above {before.Generation}", staying);
            cluster.Log($"taken over {sinceCut.Elapsed.TotalSeconds:F1} s after the cut: {takenOver}");

            // The old primary's side gives up: it lost the claim (its log says so), or its process stopped.
            await stepping;
            string cutLog = cutOff.Output;
            cluster.Log($"cut-off node: lost-claim line {(steppedAfter is { } after ? $"logged {after.TotalSeconds:F1} s after the cut" : "NOT logged")}; " +
                $"process {(cutOff.Process.HasExited ? $"exited with {cutOff.Process.ExitCode}" : "still running")}");
            foreach (string line in cutLog.Split('\n').Where(IsTellingLine).Take(20)) cluster.Log($"  cut-off node: {line}");
            Assert.True(steppedAfter is not null || cutOff.Process.HasExited,
                $"within {LostClaimWithin.TotalSeconds:F0} s of the cut the cut-off node neither logged '{LostClaimLine}' nor stopped:\n{TestCluster.Tail(cutLog, 40)}");

            // The claims: one owner per generation, the new generation won by the new side, nothing won by the cut-off node after the cut.
            var claims = ReadClaims(cluster.ClaimsPath, Vm);
            foreach (var claim in claims) cluster.Log($"claim g{claim.Generation}: {claim.Owner} at {claim.At}");
            Assert.True(claims.Count > 0, "no claims in lockstep_claims");
            Assert.True(claims.GroupBy(c => c.Generation).All(g => g.Count() == 1), "a generation has more than one claim row");
            var firstAfterCut = claims.SingleOrDefault(c => c.Generation == before.Generation + 1);
            Assert.True(firstAfterCut is not null, $"nobody claimed generation {before.Generation + 1} after the cut");
            Assert.True(!OwnedBy(firstAfterCut.Owner, cutOff),
                $"generation {firstAfterCut.Generation} was claimed by the cut-off node: {firstAfterCut.Owner}");
            var wonByCutOff = claims.Where(c => c.Generation > before.Generation && OwnedBy(c.Owner, cutOff)).ToList();
            Assert.True(wonByCutOff.Count == 0,
                $"the cut-off node won generations after the cut: {string.Join(", ", wonByCutOff.Select(c => $"g{c.Generation} {c.Owner}"))}");
            var newest = claims.MaxBy(c => c.Generation)!;
            var current = await cluster.WaitForStatus(Vm, s => staying.Any(n => n.Endpoint == s.Primary), TimeSpan.FromSeconds(10),
                "a primary on a connected node", staying);
            Assert.True(OwnedBy(newest.Owner, cluster.NodeAt(current.Primary)),
                $"the newest claim g{newest.Generation} is {newest.Owner}, not on the primary's node {current.Primary}");
            Assert.True(current.Generation >= newest.Generation,
                $"status shows generation {current.Generation}, the claims already {newest.Generation}");

            // 4. Heal the link; a few seconds later the counter still goes on exactly once per request.
            cluster.Reconnect(cutOff);
            await Task.Delay(TimeSpan.FromSeconds(4), cluster.Cancel);
            cluster.Log($"after the heal the old primary's node {(cutOff.Process.HasExited ? $"had exited with {cutOff.Process.ExitCode}" : "still runs")}");
            var more = IncrStream.Start(cluster, Vm, Peer, "b", Key, MoreRequests, staying);
            var moreLines = await more.Finish(StreamTimeout);
            more.AssertExactlyOnce(moreLines, before: Requests);

            var last = await cluster.WaitForStatus(Vm, s => staying.Any(n => n.Endpoint == s.Primary), TimeSpan.FromSeconds(10),
                "a primary on a connected node after the heal", staying);
            Assert.True(last.Generation >= takenOver.Generation, $"generation went back from {takenOver.Generation}: {last}");
        }
        finally
        {
            // Nothing of the test may outlive it: the watchers end before the cluster goes.
            await stopWatching.CancelAsync();
            await stepping;
            try
            {
                views = await watcher;
            }
            catch (OperationCanceledException)
            {
            }
        }

        // Never two live sides in any status seen after the cut: the cut-off node never showed up as primary of a
        // newer generation, and not as primary at all once the takeover had been seen.
        cluster.Log($"{views.Count} statuses seen after the cut");
        Assert.True(views.Count > 0, "no status could be read after the cut");
        var promoted = views.FindIndex(v => staying.Any(n => n.Endpoint == v.Status.Primary) && v.Status.Generation > before.Generation);
        for (int i = 0; i < views.Count; i++)
        {
            var (at, status) = views[i];
            if (status.Primary != cutOff.Endpoint) continue;
            Assert.True(status.Generation <= before.Generation,
                $"{at.TotalSeconds:F1} s after the cut the cut-off node is primary of generation {status.Generation}: {status.Json}");
            Assert.True(promoted < 0 || i < promoted,
                $"{at.TotalSeconds:F1} s after the cut, after the takeover, the cut-off node is shown as primary again: {status.Json}");
        }
        cluster.Passed();
    }

    /// <summary>Notes, once a second, how far the stream has got, so a slow stretch shows in the output.</summary>
    private static async Task LogProgress(NamespaceCluster cluster, IncrStream stream, Stopwatch sinceCut, CancellationToken stop)
    {
        int last = -1;
        while (stream.Answered < stream.Count && !stop.IsCancellationRequested)
        {
            if (stream.Answered != last)
            {
                last = stream.Answered;
                cluster.Log($"progress: {last} answers {sinceCut.Elapsed.TotalSeconds:F1} s after the cut");
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Polls the status through <paramref name="through"/> until cancelled; returns every status seen, with its time since the start.</summary>
    private static async Task<List<(TimeSpan At, VmStatusView Status)>> WatchStatus(NamespaceCluster cluster,
        IReadOnlyList<NodeProcess> through, CancellationToken stop)
    {
        var seen = new List<(TimeSpan, VmStatusView)>();
        var clock = Stopwatch.StartNew();
        await Task.Yield();
        while (!stop.IsCancellationRequested && !cluster.Cancel.IsCancellationRequested)
        {
            var status = await cluster.Status(Vm, through, TimeSpan.FromSeconds(6));
            if (status is not null)
            {
                seen.Add((clock.Elapsed, status));
                if (seen.Count == 1 || seen[^2].Item2.ToString() != status.ToString())
                    cluster.Log($"watch: {status} ({clock.Elapsed.TotalSeconds:F1} s after the cut)");
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return seen;
    }

    /// <summary>Polls the claims table until <paramref name="generation"/> is claimed; null when it is not in time.</summary>
    private static async Task<Claim?> WaitForClaim(NamespaceCluster cluster, long generation, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var claim = ReadClaims(cluster.ClaimsPath, Vm).SingleOrDefault(c => c.Generation == generation);
            if (claim is not null || clock.Elapsed > timeout) return claim;
            await Task.Delay(100, cluster.Cancel);
        }
    }

    private static bool IsTellingLine(string line) =>
        line.Contains(LostClaimLine, StringComparison.Ordinal)
        || line.Contains("secondary lost", StringComparison.Ordinal)
        || line.Contains("primary lost", StringComparison.Ordinal)
        || line.Contains("marked as DOWN", StringComparison.Ordinal)
        || line.Contains("Shutting down myself", StringComparison.Ordinal)
        || line.Contains("SBR", StringComparison.Ordinal);

    /// <summary>Claim owners are "HOST:PORT#UID/actor-name" of the node that inserted the row.</summary>
    private static bool OwnedBy(string owner, NodeProcess node) => owner.StartsWith(node.Endpoint + "#", StringComparison.Ordinal);

    private sealed record Claim(long Generation, string Owner, string At);

    private static List<Claim> ReadClaims(string databasePath, string vm)
    {
        string connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
            DefaultTimeout = 10,
        }.ToString();
        using var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT generation, owner, claimed_at FROM lockstep_claims WHERE vm = $vm ORDER BY generation";
        command.Parameters.AddWithValue("$vm", vm);
        var claims = new List<Claim>();
        using var reader = command.ExecuteReader();
        while (reader.Read()) claims.Add(new Claim(reader.GetInt64(0), reader.GetString(1), reader.GetString(2)));
        return claims;
    }
}
