using System.CommandLine;
using Lockstep.Host.Cli;

namespace Lockstep.Host.Demo;

/// <summary>
/// `lockstep demo`: a self-contained show of fault tolerance on this machine: three real nodes, a protected
/// kv VM under client load, SIGKILL to the primary's node, takeover and re-protection, then checks of what
/// the clients were told. Exit status 0 only when every check holds.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var basePort = new Option<int>("--base-port") { Description = "first port to try for the nodes (the next free ones are used)", DefaultValueFactory = _ => 4900 };
        var loadSeconds = new Option<double>("--load-seconds") { Description = "seconds of client load before the primary's node is killed", DefaultValueFactory = _ => 10 };
        var afterSeconds = new Option<double>("--after-seconds") { Description = "seconds of client load once the VM is Protected again", DefaultValueFactory = _ => 8 };
        var image = new Option<string>("--image") { Description = "the kv guest image", DefaultValueFactory = _ => DemoOptions.DefaultImage };
        var keep = new Option<bool>("--keep") { Description = "keep the working folder (node logs, journal, the demo's events and every answer its clients got) for debugging" };
        var via = new Option<string>("--via")
        {
            Description = "door: the clients are UDP clients of the front door; cluster: they send through ClusterClient, as before the front door (for comparison)",
            DefaultValueFactory = _ => "door",
        };
        via.AcceptOnlyFromAmong("door", "cluster");
        var command = new Command("demo", "Show a failover on a local three-node cluster under client load, and check the result")
        {
            basePort, loadSeconds, afterSeconds, image, keep, via,
        };
        command.SetAction(parse => LocalCommands.Guarded(() =>
        {
            int port = parse.GetValue(basePort);
            if (port is < 1024 or > 65000) throw new UsageException("--base-port must be between 1024 and 65000");
            double seconds = parse.GetValue(loadSeconds);
            if (!(seconds >= 1 && seconds <= 60)) throw new UsageException("--load-seconds must be between 1 and 60");
            double after = parse.GetValue(afterSeconds);
            if (!(after >= 0 && after <= 60)) throw new UsageException("--after-seconds must be between 0 and 60");
            var options = new DemoOptions(port, seconds, after, parse.GetValue(image)!, parse.GetValue(keep), parse.GetValue(via) == "cluster");
            using var interrupt = new DemoInterrupt();
            try
            {
                return new DemoScenario(options, Console.Out, interrupt).RunAsync().GetAwaiter().GetResult();
            }
            catch (DemoAbortedException e)
            {
                Console.Out.Flush();
                Console.Error.WriteLine($"lockstep demo: {e.Message}");
                return ExitCodes.Unavailable;
            }
        }));
        return command;
    }
}
