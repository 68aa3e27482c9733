using System.Runtime.InteropServices;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// `vm console`: prints a VM's released console bytes as they are, then with <c>follow</c> keeps asking for
/// more every <see cref="PollInterval"/> until Ctrl-C (or SIGTERM). The VM holds nothing for a follower: each
/// ask names the offset to go on from, so a failover (or a slow terminal) costs the VM nothing and the stream
/// comes out without a repeat or a gap.
/// </summary>
public static class ConsoleFollow
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    // Per ask while following: short, so a failover in progress is tried again soon.
    private static readonly TimeSpan FollowAskTimeout = TimeSpan.FromSeconds(2);

    /// <summary>How long a follower keeps trying while no primary answers (a failover, a rebuild) before it gives up.</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(60);

    public static int Run(ControlClient client, string vm, int? lastBytes, bool follow, Stream output, TextWriter notices)
    {
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        try
        {
            var cursor = new ConsoleCursor(vm, lastBytes);
            // The first ask's errors (no such VM, no cluster) end the command: they are mistakes on the command line.
            var step = Show(cursor, client.Ask<ConsoleChunk>(cursor.Request()), output, notices);
            DateTime? failingSince = null;
            while (!stop.IsCancellationRequested)
            {
                if (step is { CaughtUp: true })
                {
                    if (!follow) return ExitCodes.Success;
                    if (stop.Token.WaitHandle.WaitOne(PollInterval)) break;
                }
                try
                {
                    step = Show(cursor, client.Ask<ConsoleChunk>(cursor.Request(), follow ? FollowAskTimeout : ControlClient.ReplyTimeout), output, notices);
                    failingSince = null;
                }
                catch (Exception e) when (follow && IsPassing(e))
                {
                    // Usually a failover in progress: the next primary continues the same stream.
                    failingSince ??= DateTime.UtcNow;
                    if (DateTime.UtcNow - failingSince > GiveUpAfter) throw;
                    step = null;
                    if (stop.Token.WaitHandle.WaitOne(PollInterval)) break;
                }
            }
            return ExitCodes.Success;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static bool IsPassing(Exception e) =>
        e is ClusterUnavailableException || e is GatewayException { Kind: ControlErrorKind.Unavailable };

    private static ConsoleStep Show(ConsoleCursor cursor, ConsoleChunk chunk, Stream output, TextWriter notices)
    {
        var step = cursor.Take(chunk);
        if (step.Skipped > 0 || step.WentBackTo is not null) output.Flush();
        if (step.Skipped > 0) notices.WriteLine($"lockstep: [{step.Skipped} console bytes before offset {chunk.Start} are no longer kept]");
        if (step.WentBackTo is { } back) notices.WriteLine($"lockstep: [the console now ends at offset {back}, before what was shown: the VM was rebuilt from its journal; reading on from there]");
        output.Write(step.Data);
        output.Flush();
        return step;
    }
}
