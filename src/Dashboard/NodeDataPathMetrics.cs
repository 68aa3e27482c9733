using System.Globalization;
using System.Text;
using Lockstep.Replication;
using Lockstep.Replication.Stats;

namespace Lockstep.Dashboard;

/// <summary>
/// This node's own data-path figures, read from its replication engine at each scrape (no poll, no actor): the round
/// trip of each lockstep link it has, and how long its journal takes to confirm a write.
/// </summary>
public sealed class NodeDataPathMetrics(ReplicationEngine engine, string node)
{
    public void Write(StringBuilder text)
    {
        // A link being replaced can meet its successor here for a moment: one series per label set, their counts summed.
        var links = engine.Links.Links()
            .GroupBy(link => (link.Peer, Opened: link.Outgoing ? "here" : "there"))
            .Select(group => (group.Key, Counts: Sum(group.Select(link => link.RoundTrips.Snapshot())), Last: group.Select(link => link.LastRoundTripMs).LastOrDefault(ms => ms is not null)))
            .ToList();
        HistogramText.Write(text, "lockstep_link_round_trip_seconds",
            "Round trip of this node's lockstep links (a ping each second from each side), by peer; opened: here (this node connected) or there",
            links.Select(l => (Labels(l.Key.Peer, l.Key.Opened), l.Counts)));
        text.Append("# HELP lockstep_link_last_round_trip_milliseconds The last round trip measured on each of this node's lockstep links\n");
        text.Append("# TYPE lockstep_link_last_round_trip_milliseconds gauge\n");
        foreach (var link in links.Where(l => l.Last is not null))
            text.Append($"lockstep_link_last_round_trip_milliseconds{{node=\"{HistogramText.Escape(node)}\",peer=\"{HistogramText.Escape(link.Key.Peer)}\",opened=\"{link.Key.Opened}\"}} ")
                .Append(link.Last!.Value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        HistogramText.Write(text, "lockstep_node_journal_write_seconds",
            "How long the journal took to confirm each write of this node's primaries (log batches and checkpoint increments)",
            [([("node", node)], engine.JournalWrites.Snapshot())]);
    }

    private IReadOnlyList<(string, string)> Labels(string peer, string opened) => [("node", node), ("peer", peer), ("opened", opened)];

    private static LatencyCounts Sum(IEnumerable<LatencyCounts> all)
    {
        var counts = new long[LatencyCounts.Empty.Counts.Length];
        double sum = 0;
        foreach (var one in all)
        {
            for (int i = 0; i < counts.Length; i++) counts[i] += one.Counts[i];
            sum += one.SumMs;
        }
        return new LatencyCounts(counts, sum);
    }
}
