using Lockstep.Engine.Recording;

namespace Lockstep.Actors.Protocol;

/// <summary>
/// One end of an export's range: an instruction count, or a time compared with the journal's write
/// times (UTC) of checkpoints and log batches. Exactly one is set.
/// </summary>
public sealed record ExportBound(ulong? Position, DateTime? Time)
{
    public static ExportBound AtPosition(ulong position) => new(position, null);
    public static ExportBound AtTime(DateTime utc) => new(null, utc.ToUniversalTime());

    public override string ToString() => Position is { } p ? $"instruction {p}" : $"{Time:yyyy-MM-dd HH:mm:ss.fff} UTC";
}

/// <summary>
/// Builds an export of a VM's history from the journal on the node that gets it. Reply: <see cref="ExportReady"/>,
/// after which the file is fetched piece by piece (<see cref="ReadExportChunk"/>): a whole export does not fit
/// one remoting frame. Null bounds: from the oldest checkpoint the journal holds, to the end of its log.
/// </summary>
public sealed record ExportVm(string Name, ExportBound? From, ExportBound? To) : IControlRequest;

/// <summary>
/// The export is built and kept by <paramref name="Session"/> on one node until read or idle for a while. A client's
/// next request may reach another node's gateway (ClusterClient picks the receptionist), which forwards reads there.
/// </summary>
public sealed record ExportReady(string Name, Guid Export, long Length, ExportInfo Info, Akka.Actor.IActorRef Session);

/// <summary>The next piece of an export. Reply: <see cref="ExportChunk"/> (empty past the end).</summary>
public sealed record ReadExportChunk(string Name, Guid Export, Akka.Actor.IActorRef Session, long Offset) : IControlRequest;

public sealed record ExportChunk(Guid Export, long Offset, byte[] Data);
