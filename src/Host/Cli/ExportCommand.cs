using System.CommandLine;
using System.Globalization;
using Lockstep.Actors.Export;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Recording;
using Lockstep.Host.Cli.Client;
using Lockstep.Replication.Claims;

namespace Lockstep.Host.Cli;

/// <summary>
/// `vm export NAME --out FILE [--from B] [--to B] [--journal J]`: a VM's history from the journal as one
/// self-contained file (<see cref="ExportFile"/>) that `replay FILE` replays. Through the cluster (any node
/// reads the shared journal and hands the file over in pieces) or, with --journal, straight from storage.
/// </summary>
public static class ExportCommand
{
    private static readonly TimeSpan BuildWait = TimeSpan.FromSeconds(90);

    public static Command Create(Argument<string> name, Func<ParseResult, ControlClient> connect, Func<Func<int>, int> guarded)
    {
        var output = new Option<string>("--out") { Description = "file to write the export to", Required = true };
        var from = new Option<string?>("--from") { Description = "start: an instruction count, a UTC time (2026-12-01T14:30:00Z) or now-DURATION (now-5m); the newest journal checkpoint at or before it (for a time older than the journal holds: its oldest). Default: the oldest the journal holds" };
        var to = new Option<string?>("--to") { Description = "end: an instruction count (exact), a UTC time or now-DURATION (the last log batch written by then). Default: the end of the journal's log" };
        var journal = new Option<string?>("--journal") { Description = "read the journal directly, sqlite:PATH or postgres:CONNECTION-STRING, instead of through a cluster" };
        var command = new Command("export", "Write a VM's recorded history (checkpoint, log, image) from the journal to one file for `lockstep replay FILE`") { name, output, from, to, journal };
        command.SetAction(parse => guarded(() =>
        {
            string vm = parse.GetValue(name)!, path = parse.GetValue(output)!;
            var now = DateTime.UtcNow;
            var start = Bound(parse.GetValue(from), "--from", now);
            var end = Bound(parse.GetValue(to), "--to", now);
            if (start?.Position is { } a && end?.Position is { } b && b < a) throw new UsageException($"--to {b} is before --from {a}");
            string partial = path + ".partial";
            try
            {
                ExportInfo info;
                using (var file = new FileStream(partial, FileMode.Create, FileAccess.Write))
                    info = parse.GetValue(journal) is { } location ? FromJournal(location, vm, start, end, file) : FromCluster(connect(parse), vm, start, end, file);
                ExportFile.Read(partial); // what was written is what `replay` will accept
                File.Move(partial, path, overwrite: true);
                Console.Out.WriteLine($"exported {vm}: instructions {info.StartPosition:N0} to {info.EndPosition:N0} "
                    + $"(journal times {Time(info.StartTime)} to {Time(info.EndTime)}), {new FileInfo(path).Length:N0} bytes to {path}");
                return ExitCodes.Success;
            }
            catch (UnauthorizedAccessException e)
            {
                throw new IOException($"cannot write {path}: {e.Message}");
            }
            finally
            {
                if (File.Exists(partial)) File.Delete(partial);
            }
        }));
        return command;
    }

    private static ExportInfo FromCluster(ControlClient client, string vm, ExportBound? from, ExportBound? to, Stream file)
    {
        using (client)
        {
            var ready = client.Ask<ExportReady>(new ExportVm(vm, from, to), BuildWait);
            while (file.Length < ready.Length)
            {
                var chunk = client.Ask<ExportChunk>(new ReadExportChunk(vm, ready.Export, ready.Session, file.Length));
                if (chunk.Offset != file.Length || chunk.Data.Length == 0)
                    throw new GatewayException($"the export of {vm} broke off at byte {file.Length} of {ready.Length}");
                file.Write(chunk.Data);
            }
            return ready.Info;
        }
    }

    private static ExportInfo FromJournal(string location, string vm, ExportBound? from, ExportBound? to, Stream file)
    {
        JournalLocation journal;
        try
        {
            journal = JournalLocation.Parse(location);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
        ExportContents contents;
        try
        {
            using var system = JournalReaderSystem.Create(journal);
            try
            {
                contents = VmExporter.BuildAsync(system, vm, from, to).GetAwaiter().GetResult();
            }
            finally
            {
                system.Terminate().Wait(TimeSpan.FromSeconds(5));
            }
        }
        catch (ExportRangeException e)
        {
            throw new GatewayException(e.Message);
        }
        catch (Exception e) when (e is not (UsageException or GatewayException or LogFormatException))
        {
            throw new ClusterUnavailableException($"the journal {location} could not be read: {e.GetBaseException().Message}");
        }
        ExportFile.Write(file, contents);
        return contents.Info;
    }

    /// <summary>An instruction count, an ISO 8601 time (UTC unless it says otherwise), or now-DURATION with s, m or h.</summary>
    public static ExportBound? Bound(string? text, string option, DateTime now)
    {
        if (text is null) return null;
        string t = text.Trim();
        if (ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out ulong position)) return ExportBound.AtPosition(position);
        if (t.StartsWith("now-", StringComparison.OrdinalIgnoreCase) && t.Length > 5
            && double.TryParse(t[4..^1], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double amount))
        {
            TimeSpan? ago = char.ToLowerInvariant(t[^1]) switch
            {
                's' => TimeSpan.FromSeconds(amount),
                'm' => TimeSpan.FromMinutes(amount),
                'h' => TimeSpan.FromHours(amount),
                _ => null,
            };
            if (ago is { } span) return ExportBound.AtTime(now - span);
        }
        if (DateTime.TryParse(t, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time))
            return ExportBound.AtTime(time);
        throw new UsageException($"{option} {text}: expected an instruction count, a time such as 2026-12-01T14:30:00Z, or now-5m");
    }

    private static string Time(DateTime? time) => time is { } t ? $"{t:yyyy-MM-dd HH:mm:ss.fff} UTC" : "boot";
}
