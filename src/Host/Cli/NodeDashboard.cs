using Lockstep.Actors.Node;
using Lockstep.Dashboard;

namespace Lockstep.Host.Cli;

/// <summary>`lockstep node --http PORT`: the web dashboard and /metrics, started beside the node's actors.</summary>
public static class NodeDashboard
{
    /// <summary>What the node starts alongside its actors: the dashboard on <paramref name="host"/>:<paramref name="port"/>, or nothing without a port.</summary>
    /// <exception cref="UsageException">The port is not one.</exception>
    public static Func<NodeHandles, Task<IAsyncDisposable?>>? For(int? port, string host, CancellationToken stop)
    {
        if (port is not { } wanted) return null;
        if (wanted is < 1 or > 65535) throw new UsageException($"invalid --http port {wanted}: use 1-65535");
        return async node =>
        {
            try
            {
                var server = await DashboardServer.StartAsync(node.System, node.Gateway, node.Engine, host, wanted, stop);
                Console.Out.WriteLine($"lockstep: dashboard at {server.Address} (metrics at {server.Address}metrics)");
                return server;
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                // The node must not stay a cluster member without the dashboard it was asked to serve.
                await node.System.Terminate();
                throw new IOException($"cannot serve the dashboard on {host}:{wanted}: {e.Message}", e);
            }
        };
    }
}
