using System.Globalization;
using System.Net;
using Lockstep.Actors.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Lockstep.Dashboard;

/// <summary>
/// A VM's console on the dashboard: GET /api/vm/NAME/console[?from=OFFSET|?last=BYTES] (one piece, JSON) and
/// GET /api/vm/NAME/console/events[?from=OFFSET] (server-sent events, one per piece, each with its next offset as
/// the event id, so a browser that reconnects goes on where it was). Each stream asks the gateway itself, from its
/// own offset, only while its page is open: the VM holds nothing for it, and a slow or closed page costs it nothing.
/// </summary>
public static class ConsoleEndpoints
{
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    // As long as the CLI waits: the first ask for a VM a node has not routed yet may wait for sharding.
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    // A comment line now and then lets a proxy (and the browser) see the stream is alive while the guest is quiet.
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    public static void Map(WebApplication app, Func<GatewayClient> client)
    {
        var stopping = app.Lifetime.ApplicationStopping;
        app.MapGet("/api/vm/{name}/console", async (string name, HttpContext http, CancellationToken cancel) =>
        {
            if (!TryOffsets(http, out var from, out var last, out string? error)) return Refusal(error!, null, HttpStatusCode.BadRequest);
            var cursor = new ConsoleCursor(name, last, from);
            try
            {
                var chunk = await client().AskAsync<ConsoleChunk>(cursor.Request(), AskTimeout, cancel);
                var step = cursor.Take(chunk);
                return Results.Text(DashboardJson.Serialize(ConsoleDocument.From(chunk, step)), "application/json; charset=utf-8");
            }
            catch (GatewayRefusedException e)
            {
                var status = e.Error.Kind is ControlErrorKind.UnknownVm or ControlErrorKind.Stopped ? HttpStatusCode.NotFound : HttpStatusCode.ServiceUnavailable;
                return Refusal(e.Error.Message, e.Error.Kind, status);
            }
        });
        app.MapGet("/api/vm/{name}/console/events", async (string name, HttpContext http) =>
        {
            if (!TryOffsets(http, out var from, out _, out string? error))
            {
                http.Response.StatusCode = StatusCodes.Status400BadRequest;
                await http.Response.WriteAsync(error!);
                return;
            }
            // A reconnecting EventSource names the last event's id: the offset it had got to.
            if (ulong.TryParse(http.Request.Headers["Last-Event-ID"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong resumed)) from = resumed;
            await Stream(http, client(), name, from, stopping);
        });
    }

    private static async Task Stream(HttpContext http, GatewayClient client, string name, ulong? from, CancellationToken stopping)
    {
        using var both = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, stopping);
        var cancel = both.Token;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var cursor = new ConsoleCursor(name, from: from);
        bool first = true;
        var quietSince = DateTime.UtcNow;
        try
        {
            await http.Response.WriteAsync("retry: 2000\n\n", cancel);
            await http.Response.Body.FlushAsync(cancel);
            while (true)
            {
                ConsoleChunk chunk;
                try
                {
                    chunk = await client.AskAsync<ConsoleChunk>(cursor.Request(), AskTimeout, cancel);
                }
                catch (GatewayRefusedException e)
                {
                    // Unknown or stopped: said once, and the stream ends. Anything else (a failover): said, and asked again.
                    await http.Response.WriteAsync($"event: refused\ndata: {DashboardJson.Serialize(new { error = e.Error.Message, kind = e.Error.Kind })}\n\n", cancel);
                    await http.Response.Body.FlushAsync(cancel);
                    if (e.Error.Kind is ControlErrorKind.UnknownVm or ControlErrorKind.Stopped) return;
                    await Task.Delay(PollInterval, cancel);
                    continue;
                }
                var step = cursor.Take(chunk);
                if (step.Data.Length > 0 || step.Skipped > 0 || step.WentBackTo is not null || first)
                {
                    first = false;
                    var document = ConsoleDocument.From(chunk, step);
                    await http.Response.WriteAsync($"id: {cursor.Next}\ndata: {DashboardJson.Serialize(document)}\n\n", cancel);
                    await http.Response.Body.FlushAsync(cancel);
                    quietSince = DateTime.UtcNow;
                }
                else if (DateTime.UtcNow - quietSince > KeepAlive)
                {
                    await http.Response.WriteAsync(": quiet\n\n", cancel);
                    await http.Response.Body.FlushAsync(cancel);
                    quietSince = DateTime.UtcNow;
                }
                if (step.CaughtUp) await Task.Delay(PollInterval, cancel);
            }
        }
        catch (OperationCanceledException)
        {
            // The page was closed or the node stops: the stream simply ends, and nothing is left asking.
        }
    }

    private static bool TryOffsets(HttpContext http, out ulong? from, out int? last, out string? error)
    {
        from = null;
        last = null;
        error = null;
        var query = http.Request.Query;
        if (query.TryGetValue("from", out var fromText))
        {
            if (!ulong.TryParse(fromText.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong parsed))
            {
                error = $"from must be a byte offset (a whole number from 0), not '{fromText}'";
                return false;
            }
            from = parsed;
        }
        if (query.TryGetValue("last", out var lastText))
        {
            if (!int.TryParse(lastText.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out int parsed) || parsed < 1)
            {
                error = $"last must be a number of bytes from 1, not '{lastText}'";
                return false;
            }
            last = parsed;
        }
        if (from is not null && last is not null)
        {
            error = "ask with from or with last, not both";
            return false;
        }
        return true;
    }

    private static IResult Refusal(string message, ControlErrorKind? kind, HttpStatusCode status) =>
        Results.Json(new { ok = false, error = message, kind = kind?.ToString() }, DashboardJson.Options, statusCode: (int)status);
}
