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
    private readonly System.Diagnostics.Process? _secondaryProcess;
    private readonly ManualResetEventSlim _protected = new(false);
    private readonly ManualResetEventSlim _ended = new(false);

    public BlockingCollection<MachineOutput> Released { get; } = new();
    public DateTime? ProtectedAt { get; private set; }

    /// <param name="separate">When set, the secondary runs in a child process on that core (claims in that file) instead of in this process.</param>
    /// <param name="fillRam">Random bytes in nearly all of RAM once the guest waits for input, so that every page is
    /// in the snapshot (the worst case for re-protection); the guest's own data is overwritten too, so send it nothing.</param>
    public BenchVm(string image, bool protect, ClaimStore claims, LockstepSettings settings, (string ClaimsPath, int Cpu)? separate = null,
        bool fillRam = false)
    {
        string name = $"bench{Interlocked.Increment(ref _counter)}-{Environment.ProcessId}-{DateTime.UtcNow.Ticks}";
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(image));
        if (fillRam) FillRam(machine);
        _primary = new PrimaryRuntime(name, machine, 1, false, 0, 0, settings, claims, "bench-primary", this);
        int? port = null;
        if (protect && separate is { } child) (_secondaryProcess, port) = BenchSecondaryProcess.Start(name, child.ClaimsPath, child.Cpu);
        else if (protect)
        {
            _secondary = new SecondaryRuntime(name, MemoryMap.DefaultRamSize, 1, "127.0.0.1", settings, claims, "bench-secondary", this);
            port = _secondary.Start();
        }
        StartedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        _primary.Start();
        if (port is not int listening) return;
        _primary.AttachSecondary("127.0.0.1", listening);
        if (!_protected.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("the secondary never acknowledged");
    }

    public PrimaryRuntime Primary => _primary;

    /// <summary>Runs the guest until it waits for input, then writes noise over all RAM but its first MiB and the stack.</summary>
    private static void FillRam(Machine machine)
    {
        while (machine.Run(1_000_000) is StopReason.Budget or StopReason.Output) machine.Outputs.Clear();
        if (!machine.IsWaiting) throw new InvalidOperationException("the guest did not settle into waiting for input");
        const uint image = 1 << 20, stack = 256 << 10;
        var noise = new byte[machine.RamSize - image - stack];
        new Random(1).NextBytes(noise);
        machine.TryWriteRam(MemoryMap.RamBase + image, noise);
    }

    /// <summary>When the guest started running (after the secondary, if any, was up and listening).</summary>
    public long StartedAt { get; private set; }

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
        if (_secondaryProcess is { } child && !child.WaitForExit(TimeSpan.FromSeconds(5))) child.Kill();
        _secondaryProcess?.Dispose();
    }
}
