using System.Collections.Concurrent;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;

namespace Lockstep.Host.Bench;

/// <summary>
/// A VM on the real lockstep data path without the cluster around it: a primary runtime and,
/// when protected, a secondary runtime in this process joined by the real TCP channel.
/// </summary>
public sealed class BenchVm : IPrimaryEvents, ISecondaryEvents, IDisposable
{
    private static int _counter;
    private readonly PrimaryRuntime _primary;
    private readonly SecondaryRuntime? _secondary;
    private readonly ManualResetEventSlim _protected = new(false);
    private readonly ManualResetEventSlim _ended = new(false);

    public BlockingCollection<MachineOutput> Released { get; } = new();
    public DateTime? ProtectedAt { get; private set; }

    public BenchVm(string image, bool protect, ClaimStore claims, LockstepSettings settings)
    {
        string name = $"bench{Interlocked.Increment(ref _counter)}-{Environment.ProcessId}-{DateTime.UtcNow.Ticks}";
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(image));
        _primary = new PrimaryRuntime(name, machine, 1, false, 0, 0, settings, claims, "bench-primary", this);
        if (protect)
        {
            _secondary = new SecondaryRuntime(name, MemoryMap.DefaultRamSize, 1, "127.0.0.1", settings, claims, "bench-secondary", this);
            int port = _secondary.Start();
            _primary.Start();
            _primary.AttachSecondary("127.0.0.1", port);
            if (!_protected.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("the secondary never acknowledged");
        }
        else
        {
            _primary.Start();
        }
    }

    public PrimaryRuntime Primary => _primary;

    public void Deliver(uint peer, byte[] data) => _primary.Deliver(peer, data);

    public bool WaitEnded(TimeSpan timeout) => _ended.Wait(timeout);

    void IPrimaryEvents.Released(MachineOutput output) => Released.Add(output);
    void IPrimaryEvents.NeedSecondary(string reason, bool afterLoss) { }
    void IPrimaryEvents.Protected()
    {
        ProtectedAt = DateTime.UtcNow;
        _protected.Set();
    }
    void IPrimaryEvents.LostClaim(long generation) => _ended.Set();
    void IPrimaryEvents.Ended(string state, string detail) => _ended.Set();
    void IPrimaryEvents.LogCut(LogSegment segment, byte[] encoded) { }
    void IPrimaryEvents.HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
    void IPrimaryEvents.Checkpoint(long entryIndex, ulong position, byte[] snapshot) { }
    void ISecondaryEvents.Promoted(Machine machine, long generation, long nextEntryIndex, ulong releasedSeq,
        IReadOnlyList<MachineOutput> unreleased, DeliveryFilter filter, string reason, double gapMs) { }
    void ISecondaryEvents.Ended(string reason) { }

    public void Dispose()
    {
        _primary.Stop();
        _secondary?.Stop();
    }
}
