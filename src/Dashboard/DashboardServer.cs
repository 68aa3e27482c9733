using System.Net;
using System.Text;
using System.Text.Json;
using Akka.Actor;
using Lockstep.Actors.Protocol;
using Lockstep.Replication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Lockstep.Dashboard;

/// <summary>
/// The web dashboard and /metrics of one node: routes of the node's ASP.NET Core (Kestrel) host, the generic host
/// that also runs its actor system. Everything it shows comes from the gateway actor through asynchronous asks.
/// </summary>
public sealed class DashboardServer
{
    private static readonly TimeSpan StatusTimeout = TimeSpan.FromSeconds(5);
    // As long as the CLI waits for an operation (creating a secondary takes a while).
    private static readonly TimeSpan OperationTimeout = TimeSpan.FromSeconds(30);

    private readonly GatewayClient _client;
    private readonly VmSampler _sampler;
    private readonly DashboardMetrics _metrics;
    private readonly NodeDataPathMetrics? _dataPath;

    private DashboardServer(GatewayClient client, VmSampler sampler, DashboardMetrics metrics, NodeDataPathMetrics? dataPath)
    {
        _client = client;
        _sampler = sampler;
        _metrics = metrics;
        _dataPath = dataPath;
    }

    /// <summary>Makes <paramref name="builder"/> serve HTTP/1 on <paramref name="host"/>:<paramref name="port"/> (an IP address; anything else: all addresses).</summary>
    public static void Listen(WebApplicationBuilder builder, string host, int port)
    {
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        // Open event streams end on the host's stopping signal; nothing else is waited for.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(2));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (IPAddress.TryParse(host, out var ip)) kestrel.Listen(ip, port);
            else kestrel.ListenAnyIP(port);
            kestrel.ConfigureEndpointDefaults(endpoint => endpoint.Protocols = HttpProtocols.Http1);
        });
    }

    /// <summary>The dashboard of the node whose actor system and gateway these are; its sampler starts with <see cref="Start"/>.</summary>
    /// <param name="engine">The node's replication engine, whose links and journal figures /metrics reads directly; null: none shown.</param>
    /// <exception cref="InvalidOperationException">`lockstep.dashboard.poll-interval` is out of range.</exception>
    public static DashboardServer Create(ActorSystem system, IActorRef gateway, ReplicationEngine? engine)
    {
        var interval = system.Settings.Config.GetTimeSpan("lockstep.dashboard.poll-interval", VmSampler.DefaultInterval, allowInfinite: false);
        if (interval < VmSampler.MinInterval || interval > VmSampler.MaxInterval)
            throw new InvalidOperationException($"lockstep.dashboard.poll-interval = {interval.TotalMilliseconds:0} ms: it must be between " +
                $"{VmSampler.MinInterval.TotalMilliseconds:0} ms and {VmSampler.MaxInterval.TotalSeconds:0} s");
        var client = new GatewayClient(gateway);
        var sampler = new VmSampler(system, client, interval);
        var metrics = new DashboardMetrics(Metrics.NewCustomRegistry());
        var dataPath = engine is null ? null : new NodeDataPathMetrics(engine, ClusterMembers.NodeName(Akka.Cluster.Cluster.Get(system).SelfAddress));
        sampler.Polled += metrics.Update;
        return new DashboardServer(client, sampler, metrics, dataPath);
    }

    /// <summary>Starts polling the gateway for the pages, their charts and /metrics.</summary>
    public void Start() => _sampler.Start();

    /// <summary>Ends the polling (once, when the host stops).</summary>
    public ValueTask StopAsync() => _sampler.DisposeAsync();

    /// <summary>
    /// Serves the pages, the API and /metrics from the <see cref="DashboardServer"/> the host's services hold: it exists
    /// only once the node's actors do, so every request resolves it (the host starts the web server after the actors).
    /// </summary>
    public static void MapRoutes(WebApplication app)
    {
        DashboardServer Served() => app.Services.GetRequiredService<DashboardServer>();
        var stopping = app.Lifetime.ApplicationStopping;
        app.MapGet("/", () => Results.Content(StaticAssets.Text("index.html"), "text/html; charset=utf-8"));
        app.MapGet("/static/{file}", (string file) =>
            StaticAssets.Find(file) is { } asset ? Results.Bytes(asset.Bytes, asset.ContentType) : Results.NotFound());
        app.MapGet("/vm/{name}", async (string name, CancellationToken cancel) =>
        {
            try
            {
                await Served()._client.AskAsync<VmStatus>(new GetVmStatus(name), StatusTimeout, cancel);
            }
            catch (GatewayRefusedException e) when (e.Error.Kind is ControlErrorKind.UnknownVm or ControlErrorKind.Stopped)
            {
                return Results.Content(NotFoundPage(name, e.Error.Message), "text/html; charset=utf-8", statusCode: StatusCodes.Status404NotFound);
            }
            catch (GatewayRefusedException)
            {
                // No live primary this moment (a failover): the page shows that itself and updates when one is back.
            }
            return Results.Content(StaticAssets.Text("vm.html"), "text/html; charset=utf-8");
        });
        // The last poll, not a new one: an extra poll would put a sample a moment after the last and skew the rates.
        app.MapGet("/api/overview", () => Json(OverviewDocument.From(Served()._sampler.Latest)));
        app.MapGet("/api/vm/{name}", async (string name, CancellationToken cancel) =>
        {
            var members = Served()._sampler.Latest.Members;
            try
            {
                var status = await Served()._client.AskAsync<VmStatus>(new GetVmStatus(name), StatusTimeout, cancel);
                return Json(new VmDocument(DateTime.UtcNow, Served()._sampler.Latest.Node, status, null, status.History.Select(HistoryRow.From).ToList(),
                    Served()._sampler.SamplesOf(name), members));
            }
            catch (GatewayRefusedException e) when (e.Error.Kind is ControlErrorKind.UnknownVm or ControlErrorKind.Stopped)
            {
                return Refusal(e.Error.Message, e.Error.Kind, HttpStatusCode.NotFound);
            }
            catch (GatewayRefusedException e)
            {
                return Json(new VmDocument(DateTime.UtcNow, Served()._sampler.Latest.Node, null, e.Error.Message, [], Served()._sampler.SamplesOf(name), members));
            }
        });
        app.MapGet("/api/events", (HttpContext http) =>
            Served().Stream(http, stopping, snapshot => DashboardJson.Serialize(OverviewDocument.From(snapshot))));
        app.MapGet("/api/vm/{name}/events", (string name, HttpContext http) =>
            Served().Stream(http, stopping, snapshot => DashboardJson.Serialize(VmDocumentFrom(snapshot, name))));
        app.MapPost("/api/vm/{name}/{operation}", async (string name, string operation, HttpContext http, CancellationToken cancel) =>
        {
            IControlRequest request;
            try
            {
                request = VmOperations.Request(operation, name, await NodeOf(http, cancel));
            }
            catch (ArgumentException e)
            {
                return Refusal(e.Message, null, VmOperations.TakesNode(operation) ? HttpStatusCode.BadRequest : HttpStatusCode.NotFound);
            }
            try
            {
                var ok = await Served()._client.AskAsync<ControlOk>(request, OperationTimeout, cancel);
                return Results.Json(new { ok = true, operation, vm = name, message = ok.Message }, DashboardJson.Options);
            }
            catch (GatewayRefusedException e)
            {
                return Refusal(e.Error.Message, e.Error.Kind, VmOperations.StatusOf(e.Error.Kind));
            }
        });
        ConsoleEndpoints.Map(app, () => Served()._client);
        app.MapGet("/metrics", async (HttpContext http, CancellationToken cancel) =>
        {
            http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await Served()._metrics.Registry.CollectAndExportAsTextAsync(http.Response.Body, cancel);
            var more = new StringBuilder();
            Served()._metrics.WriteHistograms(more);
            Served()._dataPath?.Write(more);
            await http.Response.WriteAsync(more.ToString(), cancel);
        });
    }

    private static IResult Json<T>(T value) => Results.Text(DashboardJson.Serialize(value), "application/json; charset=utf-8");

    private static IResult Refusal(string message, ControlErrorKind? kind, HttpStatusCode status) =>
        Results.Json(new { ok = false, error = message, kind = kind?.ToString() }, DashboardJson.Options, statusCode: (int)status);

    /// <summary>The "node" of a JSON body ({"node": "host:port"}); null when there is no body or no such field.</summary>
    /// <exception cref="ArgumentException">The body is not a JSON object.</exception>
    private static async Task<string?> NodeOf(HttpContext http, CancellationToken cancel)
    {
        if (http.Request.ContentLength is 0 or null && !http.Request.Headers.TransferEncoding.Any()) return null;
        try
        {
            using var body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: cancel);
            if (body.RootElement.ValueKind != JsonValueKind.Object) throw new ArgumentException("the request body must be a JSON object");
            return body.RootElement.TryGetProperty("node", out var node) && node.ValueKind == JsonValueKind.String ? node.GetString() : null;
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"the request body is not JSON: {e.Message}");
        }
    }

    private static VmDocument VmDocumentFrom(ClusterSnapshot snapshot, string name)
    {
        var entry = snapshot.Vms.FirstOrDefault(v => v.Name == name);
        string? error = entry is null ? snapshot.Error ?? $"no VM named '{name}'" : entry.Error?.Message;
        var status = entry?.Status;
        return new VmDocument(snapshot.At, snapshot.Node, status, error, status?.History.Select(HistoryRow.From).ToList() ?? [],
            entry?.Sample is { } sample ? [sample] : [], snapshot.Members);
    }

    /// <summary>Server-sent events: one "data:" line of JSON per poll until the client goes or the node stops.</summary>
    private async Task Stream(HttpContext http, CancellationToken stopping, Func<ClusterSnapshot, string> render)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, stopping);
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        try
        {
            await http.Response.WriteAsync($"retry: 2000\ndata: {render(_sampler.Latest)}\n\n", both.Token);
            await http.Response.Body.FlushAsync(both.Token);
            while (true)
            {
                var snapshot = await _sampler.NextAsync(both.Token);
                await http.Response.WriteAsync($"data: {render(snapshot)}\n\n", both.Token);
                await http.Response.Body.FlushAsync(both.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // The page was closed or the node stops: the stream simply ends.
        }
    }

    private static string NotFoundPage(string name, string reason) =>
        StaticAssets.Text("not-found.html")
            .Replace("{{name}}", WebUtility.HtmlEncode(name), StringComparison.Ordinal)
            .Replace("{{reason}}", WebUtility.HtmlEncode(reason), StringComparison.Ordinal);
}
