using Lockstep.Harness;

namespace Lockstep.Cluster.Tests;

/// <summary>The lockstep program every test of the collection runs: built once, run from a private copy (<see cref="LockstepProgram.BuildPrivateCopy"/>).</summary>
public sealed class ProgramFixture : IDisposable
{
    public ProgramFixture()
    {
        KvImage = RepoRoot.Guest("kv");
        if (!File.Exists(KvImage)) throw new InvalidOperationException($"guest image {KvImage} is missing");
        Program = LockstepProgram.BuildPrivateCopy();
    }

    public LockstepProgram Program { get; }

    public string KvImage { get; }

    public void Dispose()
    {
        ProcessRegistry.KillAll();
        Program.Dispose();
    }
}

/// <summary>The collection every cluster test belongs to: one at a time, one build for all.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection : ICollectionFixture<ProgramFixture>
{
    public const string Name = "cluster processes";
}
