namespace Lockstep.Replication.Tests;

/// <summary>
/// Tests that bound the growth of the process's live heap run alone: run beside other test classes (xunit runs classes
/// in parallel), their allocations counted too — a flood test once saw 73 MiB against its 64 MiB bound in a full run,
/// 4–11 MiB alone.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HeapMeasurementCollection
{
    public const string Name = "heap measurements";
}
