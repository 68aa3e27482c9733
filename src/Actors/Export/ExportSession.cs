using Akka.Actor;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Recording;

namespace Lockstep.Actors.Export;

/// <summary>
/// One export being handed to a client (a child of the gateway): built from the journal, kept in memory,
/// and read piece by piece, each piece well under the remoting frame limit. It goes once the client has
/// read the last piece, or has been silent for <see cref="IdleTimeout"/>.
/// </summary>
public sealed class ExportSession : ReceiveActor, IWithTimers
{
    public const int ChunkSize = 1 << 20;
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(60);

    private sealed record Built(ExportContents Contents, byte[] Bytes);
    private sealed record Idle;

    private readonly Guid _id;
    private byte[] _bytes = [];

    public ExportSession(Guid id, ExportVm request, IActorRef requester)
    {
        _id = id;
        Receive<Built>(built =>
        {
            _bytes = built.Bytes;
            requester.Tell(new ExportReady(request.Name, _id, _bytes.Length, built.Contents.Info, Self));
            Timers.StartSingleTimer("idle", new Idle(), IdleTimeout);
        });
        Receive<Status.Failure>(failure =>
        {
            var cause = failure.Cause is AggregateException { InnerException: { } inner } ? inner : failure.Cause;
            requester.Tell(cause is ExportRangeException
                ? new ControlError(cause.Message, ControlErrorKind.Invalid)
                : new ControlError($"the journal could not be read: {cause.Message}", ControlErrorKind.Unavailable));
            Context.Stop(Self);
        });
        Receive<ReadExportChunk>(read =>
        {
            long offset = Math.Clamp(read.Offset, 0, _bytes.Length);
            int length = (int)Math.Min(ChunkSize, _bytes.Length - offset);
            Sender.Tell(new ExportChunk(_id, offset, _bytes.AsSpan((int)offset, length).ToArray()));
            if (offset + length >= _bytes.Length) Context.Stop(Self);
            else Timers.StartSingleTimer("idle", new Idle(), IdleTimeout);
        });
        Receive<Idle>(_ => Context.Stop(Self));
        var system = Context.System;
        Task.Run(async () =>
        {
            var contents = await VmExporter.BuildAsync(system, request.Name, request.From, request.To);
            return new Built(contents, ExportFile.Encode(contents));
        }).PipeTo(Self);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>Starts a session under <paramref name="context"/> (the gateway), named after the id it will announce.</summary>
    public static void Start(IActorContext context, ExportVm request, IActorRef requester)
    {
        var id = Guid.NewGuid();
        context.ActorOf(Props.Create(() => new ExportSession(id, request, requester)), ActorName(id));
    }

    private static readonly TimeSpan ReadWait = TimeSpan.FromSeconds(10);

    /// <summary>Hands a read to its session, on whichever node it is; a session that is gone (read to the end, idle too long) is named in the error.</summary>
    public static void Forward(IActorContext context, ReadExportChunk read)
    {
        var sender = context.Sender;
        read.Session.Ask<ExportChunk>(read, ReadWait).ContinueWith<object>(asked => asked.IsCompletedSuccessfully
            ? asked.Result
            : new ControlError($"export {read.Export} of '{read.Name}' is no longer kept (idle too long, read to its end, or its node left): export again", ControlErrorKind.NotNow))
            .PipeTo(sender);
    }

    private static string ActorName(Guid export) => $"export-{export:N}";
}
