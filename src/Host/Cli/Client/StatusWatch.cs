using System.Globalization;
using System.Runtime.InteropServices;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>`vm watch`: shows a VM's status again and again until Ctrl-C (or SIGTERM).</summary>
public static class StatusWatch
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    // Short, so one slow answer during a failover does not freeze the picture for long.
    private static readonly TimeSpan RefreshTimeout = TimeSpan.FromSeconds(2);

    private const string ClearScreen = "\u001b[H\u001b[2J";

    public static int Run(ControlClient client, string vm, TextWriter output)
    {
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // Let the loop end normally so the client system is shut down and the exit status is 0.
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
            bool terminal = !Console.IsOutputRedirected;
            // A VM that is not there at the start is a mistake on the command line, so that error ends the watch.
            var first = client.Ask<VmStatus>(new GetVmStatus(vm), ControlClient.ReachTimeout);
            Show(output, terminal, StatusView.Render(first));
            while (!stop.Token.WaitHandle.WaitOne(Interval))
            {
                Show(output, terminal, Refresh(client, vm));
            }
            return ExitCodes.Success;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static string Refresh(ControlClient client, string vm)
    {
        // Later failures are shown and the watch goes on: they are usually a failover in progress.
        try
        {
            return StatusView.Render(client.Ask<VmStatus>(new GetVmStatus(vm), RefreshTimeout));
        }
        catch (GatewayException e)
        {
            return $"{vm}: {e.Message}\n";
        }
        catch (ClusterUnavailableException)
        {
            return $"{vm}: no answer from the cluster at {client.Contacts}, still trying\n";
        }
    }

    private static void Show(TextWriter output, bool terminal, string block)
    {
        string time = DateTime.Now.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
        if (terminal) output.Write($"{ClearScreen}{time}  (every {Interval.TotalMilliseconds:0} ms, Ctrl-C to stop)\n\n{block}");
        else output.Write($"--- {time}\n{block}\n");
        output.Flush();
    }
}
