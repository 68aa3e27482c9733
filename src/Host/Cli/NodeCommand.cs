using System.CommandLine;
using System.Runtime.InteropServices;
using Lockstep.Actors.Node;
using Lockstep.Actors.Security;

namespace Lockstep.Host.Cli;

/// <summary>`lockstep node`: one cluster node, until SIGINT or SIGTERM, then a graceful leave.</summary>
public static class NodeCommand
{
    private const int MinPoolThreads = 32;

    /// <summary>HOCON laid over hocon/node.conf for this node alone (under the flags), e.g. a test's settings.</summary>
    public const string NodeHoconVariable = "LOCKSTEP_NODE_HOCON";

    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Akka.Remote port of this node", DefaultValueFactory = _ => 4053 };
        var host = new Option<string>("--host") { Description = "address to bind and advertise", DefaultValueFactory = _ => "127.0.0.1" };
        var seeds = new Option<string?>("--seeds") { Description = "HOST:PORT,... of seed nodes (default: this node seeds itself)" };
        var journal = new Option<string>("--journal") { Description = "sqlite:PATH or postgres:CONNECTION-STRING", DefaultValueFactory = _ => "sqlite:./data/lockstep.db" };
        var http = new Option<int?>("--http") { Description = "serve the web dashboard and /metrics on this HTTP port (at --host)" };
        var tlsCert = TlsOptions.Certificate();
        var tlsCa = TlsOptions.Authority();
        var command = new Command("node", "Run one cluster node until SIGINT or SIGTERM") { port, host, seeds, journal, http, tlsCert, tlsCa };
        command.SetAction(parse => LocalCommands.Guarded(() =>
        {
            // Journal writes block a pool thread while another node holds the SQLite journal's write lock (a node
            // frozen mid-write holds it until it runs again). With the default minimum (one thread per core) a few
            // blocked writers can starve every actor of the node until the pool grows: after a SIGSTOP of the
            // primary's node the clients waited up to 5 s, with this minimum at most 1.7 s in 7 runs (docs/benchmarks.md).
            ThreadPool.GetMinThreads(out int workers, out int completions);
            ThreadPool.SetMinThreads(Math.Max(workers, MinPoolThreads), completions);
            string self = $"{parse.GetValue(host)}:{parse.GetValue(port)}";
            var seedList = (parse.GetValue(seeds) ?? self).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var tls = TlsOptions.Load(parse.GetValue(tlsCert), parse.GetValue(tlsCa));
            var options = new NodeOptions(parse.GetValue(host)!, parse.GetValue(port), seedList, parse.GetValue(journal)!, HoconFolder.Find(), tls,
                Environment.GetEnvironmentVariable(NodeHoconVariable));
            using var stop = new CancellationTokenSource();
            // A signal can come while the action returns and disposes the token source: nothing is left to stop then.
            void Leave(PosixSignalContext context)
            {
                context.Cancel = true;
                try { stop.Cancel(); } catch (ObjectDisposedException) { }
            }
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Leave);
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Leave);
            try
            {
                if (!NodeHost.RunAsync(options, parse.GetValue(http), stop.Token).GetAwaiter().GetResult())
                {
                    Console.Error.WriteLine("lockstep: this node was removed from the cluster (downed); exiting");
                    return ExitCodes.Unavailable;
                }
            }
            catch (TlsConfigurationException e)
            {
                Console.Error.WriteLine($"lockstep: {e.Message}; exiting");
                return ExitCodes.Unavailable;
            }
            catch (Exception e) when (e is ArgumentException or FileNotFoundException)
            {
                throw new UsageException(e.Message);
            }
            return ExitCodes.Success;
        }));
        return command;
    }
}
