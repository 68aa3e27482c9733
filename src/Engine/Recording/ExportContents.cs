namespace Lockstep.Engine.Recording;

/// <summary>
/// Where an export came from and what it covers. Times are the journal's write times (UTC) of the
/// checkpoint the export starts from and of the last log batch in it; null when not known (a VM
/// whose journal had no checkpoint yet starts from boot).
/// </summary>
/// <param name="FirstEntryIndex">Index (in the VM's whole log) of the first log entry the export holds.</param>
/// <param name="StartPosition">Instruction count of the machine the export starts with.</param>
/// <param name="EndPosition">Instruction count up to which the export's log lets a replay run.</param>
public sealed record ExportInfo(string VmName, DateTime ExportedAt, long FirstEntryIndex, ulong StartPosition, ulong EndPosition,
    DateTime? StartTime, DateTime? EndTime);

/// <summary>
/// One self-contained piece of a protected VM's history: the image it runs, a full checkpoint and
/// the increments after it up to the start (none: the export starts at boot), and the log from there
/// to the end. <see cref="ExportFile"/> is its form on disk.
/// </summary>
public sealed record ExportContents(ExportInfo Info, uint MemorySize, byte[] Image, byte[]? Checkpoint,
    IReadOnlyList<byte[]> Increments, IReadOnlyList<LogSegment> Segments);
