using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Engine.Running;

/// <summary>
/// The machine an export starts with: its checkpoint chain restored (or the image booted, for an
/// export that starts at boot), with the export's log as its inputs, ready to replay up to
/// <see cref="ExportInfo.EndPosition"/>.
/// </summary>
public static class ExportedMachine
{
    /// <exception cref="LogFormatException">The export's checkpoint or image cannot be used.</exception>
    public static Machine Start(ExportContents export, out ReplayInputs inputs)
    {
        inputs = new ReplayInputs(export.Info.FirstEntryIndex, export.Info.StartPosition);
        Machine machine;
        try
        {
            machine = new Machine(export.MemorySize, inputs);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new LogFormatException($"export corrupt: {e.Message}");
        }
        try
        {
            if (export.Checkpoint is { } full)
            {
                string? refused = null;
                CheckpointChain.Restore(machine, full, export.Increments, (index, why) => refused ??= $"increment {index}: {why}");
                if (refused is not null) throw new LogFormatException($"export corrupt: its checkpoint chain breaks at {refused}");
            }
            else ElfLoader.Load(machine, export.Image);
        }
        catch (InvalidDataException e)
        {
            throw new LogFormatException($"export corrupt: its checkpoint cannot be restored: {e.Message}");
        }
        catch (ImageException e)
        {
            throw new LogFormatException($"export corrupt: its image cannot be booted: {e.Message}");
        }
        if (machine.Position != export.Info.StartPosition)
            throw new LogFormatException($"export corrupt: its checkpoints restore instruction {machine.Position}, the export starts at {export.Info.StartPosition}");
        foreach (var segment in export.Segments) inputs.Append(segment);
        return machine;
    }
}
