using Akka.Actor;
using Akka.Hosting;
using Lockstep.Actors.Node;
using Lockstep.Dashboard;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Lockstep.Host.Cli;

/// <summary>
/// `lockstep node` as one generic host: the node's actor system through Akka.Hosting and, with --http, the web
/// dashboard and /metrics (ASP.NET Core) in the same host, which hands the dashboard the node's actors.
/// </summary>
public static class NodeHost
{
    /// <summary>Runs a node until <paramref name="stop"/> fires, then leaves the cluster gracefully.</summary>
    /// <param name="httpPort">Serve the dashboard on <see cref="NodeOptions.Hostname"/>:this port; null: no HTTP.</param>
    /// <returns>False when the cluster removed this node (downed by the split-brain resolver): the process should end.</returns>
    /// <exception cref="UsageException">The HTTP port is not one.</exception>
    /// <exception cref="IOException">The dashboard cannot be served (the node is ended first).</exception>
    public static async Task<bool> RunAsync(NodeOptions options, int? httpPort, CancellationToken stop)
    {
        if (httpPort is < 1 or > 65535) throw new UsageException($"invalid --http port {httpPort}: use 1-65535");
        var bootstrap = LockstepNode.Prepare(options);
        using var host = Build(bootstrap, options.Hostname, httpPort);
        var system = host.Services.GetRequiredService<ActorSystem>();
        try
        {
            await host.StartAsync(stop);
        }
        catch (Exception e) when (httpPort is { } port && e is IOException or InvalidOperationException)
        {
            // The node must not stay a cluster member without the dashboard it was asked to serve.
            await system.Terminate();
            throw new IOException($"cannot serve the dashboard on {options.Hostname}:{port}: {e.Message}", e);
        }
        if (httpPort is { } served)
        {
            var address = new Uri($"http://{options.Hostname}:{served}/");
            Console.Out.WriteLine($"lockstep: dashboard at {address} (metrics at {address}metrics)");
        }
        // A node downed by the split-brain resolver terminates its actor system (and so its executors):
        // the process must not linger as a zombie member.
        var ended = await Task.WhenAny(Task.Delay(Timeout.Infinite, stop), system.WhenTerminated);
        bool stays;
        try
        {
            // Akka's own shutdown hook may end the system on the same signal before we see it: only downing counts as removed.
            stays = ended != system.WhenTerminated || LockstepNode.EndedOnItsOwn(system);
            // The leave runs to its end here, not under the host's stop timeout.
            if (ended != system.WhenTerminated) await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        }
        finally
        {
            // Then the web server stops, as the dashboard did after the leave before.
            await host.StopAsync(CancellationToken.None);
        }
        return stays;
    }

    private static IHost Build(NodeBootstrap bootstrap, string hostname, int? httpPort)
    {
        if (httpPort is not { } port)
        {
            var plain = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            AddNode(plain.Services, bootstrap);
            return plain.Build();
        }
        var web = WebApplication.CreateSlimBuilder();
        DashboardServer.Listen(web, hostname, port);
        AddNode(web.Services, bootstrap);
        // Registered after the actor system's hosted service, so it starts once the node's actors exist
        // (and the web server, which the web host starts last, after it).
        web.Services.AddSingleton(services => DashboardServer.Create(services.GetRequiredService<ActorSystem>(),
            services.GetRequiredService<IRequiredActor<NodeGateway>>().ActorRef, services.GetRequiredService<NodeRuntime>().Handles.Engine));
        web.Services.AddHostedService<DashboardSampling>();
        var app = web.Build();
        DashboardServer.MapRoutes(app);
        return app;
    }

    private static void AddNode(IServiceCollection services, NodeBootstrap bootstrap)
    {
        services.AddSingleton<NodeRuntime>();
        services.AddAkka("lockstep", (akka, provider) =>
        {
            // The hocon folder stays the tuning source: its configuration (with the flags on top) wins over
            // anything Akka.Hosting adds.
            akka.AddHocon(bootstrap.Config, HoconAddMode.Prepend);
            foreach (var setup in bootstrap.Setups) akka.AddSetup(setup);
            akka.AddStartup((system, registry) =>
            {
                var handles = LockstepNode.Start(system, bootstrap.Claims, bootstrap.LinkTls);
                registry.Register<NodeGateway>(handles.Gateway);
                provider.GetRequiredService<NodeRuntime>().Handles = handles;
            });
        });
    }

    /// <summary>The ActorRegistry key of the node's gateway actor.</summary>
    private sealed class NodeGateway;

    /// <summary>The node's handles once its actors are started: what is not an actor (the replication engine) comes from here.</summary>
    private sealed class NodeRuntime
    {
        private NodeHandles? _handles;

        public NodeHandles Handles
        {
            get => _handles ?? throw new InvalidOperationException("the node's actors are not started yet");
            set => _handles = value;
        }
    }

    /// <summary>Starts the dashboard's polling once the node's actors are up and ends it when the host stops.</summary>
    /// <remarks>The host creates every hosted service before it starts the first: the dashboard is resolved at start.</remarks>
    private sealed class DashboardSampling(IServiceProvider services) : IHostedService
    {
        private DashboardServer? _dashboard;

        public Task StartAsync(CancellationToken cancel)
        {
            _dashboard = services.GetRequiredService<DashboardServer>();
            _dashboard.Start();
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancel)
        {
            if (_dashboard is not null) await _dashboard.StopAsync();
        }
    }
}
