using System.Globalization;

namespace Lockstep.Host.Demo;

/// <summary>
/// What the demo saw, left in the kept working folder (--keep) with wall-clock times to set beside the nodes' log
/// lines: its events (events.txt: the kill, the takeover as `vm status` showed it) and every answer the clients got
/// (answers.tsv, one tab-separated line each in the order they arrived). A silence in the report is read there:
/// whether requests were in flight and unanswered, or the clients had none out (held back by their pacer, say).
/// </summary>
public static class DemoRecord
{
    public const string EventsFile = "events.txt";
    public const string AnswersFile = "answers.tsv";

    public static void Write(string folder, DemoClock clock, IEnumerable<DemoEvent> events, IEnumerable<DemoAnswer> answers)
    {
        using (var file = new StreamWriter(Path.Combine(folder, EventsFile)))
            foreach (var e in events) file.WriteLine($"{Stamp(clock.UtcAt(e.AtMs))} {e.Text}");

        using var table = new StreamWriter(Path.Combine(folder, AnswersFile));
        table.WriteLine("sent_utc\tanswered_utc\tlatency_ms\tclient\trequest\tsends\theld_back_ms\tanswer");
        foreach (var a in answers.OrderBy(a => a.AnsweredAtMs))
        {
            table.WriteLine(string.Join('\t',
                Stamp(clock.UtcAt(a.SentAtMs)), Stamp(clock.UtcAt(a.AnsweredAtMs)), Ms(a.LatencyMs),
                a.Peer.ToString(CultureInfo.InvariantCulture), $"{a.Id} {a.Command}", a.Sends.ToString(CultureInfo.InvariantCulture),
                Ms(a.HeldMs), OneField(a.Body)));
        }
    }

    private static string Stamp(DateTime utc) => utc.ToString("yyyy-MM-dd HH:mm:ss.ffffZ", CultureInfo.InvariantCulture);

    private static string Ms(double ms) => ms.ToString("0.00", CultureInfo.InvariantCulture);

    private static string OneField(string text) => text.ReplaceLineEndings(" ").Replace('\t', ' ');
}
