using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;

namespace Lockstep.Actors.Tests;

/// <summary>
/// What the primary runtime's tests share: a claims file in a directory of their own, a primary
/// running the kv guest on it, and primary events that do nothing unless a test overrides them.
/// </summary>
public abstract class PrimaryTestBase : IPrimaryEvents, IDisposable
{
    private readonly string _storage = Directory.CreateTempSubdirectory("lockstep-primary-").FullName;

    protected PrimaryTestBase() => Claims = new SqliteClaimStore(Path.Combine(_storage, "claims.db"));

    protected ClaimStore Claims { get; }

    /// <summary>A primary of generation 1 running the kv guest, reporting to this test; not started yet.</summary>
    protected PrimaryRuntime KvPrimary(string name, LockstepSettings settings)
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(RepoRoot.Guest("kv")));
        return new PrimaryRuntime(name, machine, 1, false, 0, 0, settings, Claims, "primary", this);
    }

    public virtual void Released(MachineOutput output) { }
    public virtual void NeedSecondary(string reason, bool afterLoss) { }
    public virtual void Protected() { }
    public virtual void LostClaim(long generation) { }
    public virtual void Ended(string state, string detail) { }
    public virtual void LogCut(LogSegment segment, byte[] encoded) { }
    public virtual void Checkpoint(long entryIndex, ulong position, byte[] snapshot) { }
    public virtual void HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_storage, recursive: true); } catch (IOException) { }
        GC.SuppressFinalize(this);
    }
}
