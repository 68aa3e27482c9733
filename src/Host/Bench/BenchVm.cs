using System.Collections.Concurrent;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Replication;
using Lockstep.Replication.Channel;
using Lockstep.Replication.Primary;
using Lockstep.Replication.Secondary;

namespace Lockstep.Host.Bench;

/// <summary>
/// A VM on the real lockstep data path without the cluster around it: a primary loop and, when
/// protected, a replay loop in this process (or a child process) joined by a real lockstep link: each side
/// has a replication engine of its own (VM threads and links), as two nodes would.
/// Nothing fails over here, so nothing claims: the primary runs as if it held its generation.
/// </summary>
public sealed class BenchVm : IPrimaryFacts, ISecondaryFacts, IDisposable
{
    private static int _counter;
    private readonly PrimaryLoop _primary;
    private readonly ReplayLoop? _secondary;
    private readonly System.Diagnostics.Process? _secondaryProcess;
    private readonly ManualResetEventSlim _protected = new(false);
    private readonly ManualResetEventSlim _ended = new(false);

    public BlockingCollection<MachineOutput> Released { get; } = new();
    public DateTime? ProtectedAt { get; private set; }

    /// <param name="nodes">The engines of the primary's and of an in-process secondary's side.</param>
    /// <param name="separateCpu">When set, the secondary runs in a child process on that core instead of in this process.</param>
    /// <param name="fillRam">Random bytes in nearly all of RAM once the guest waits for input, so that every page is
    /// in the snapshot (the worst case for re-protection); the guest's own data is overwritten too, so send it nothing.</param>
    public BenchVm(string image, bool protect, LockstepSettings settings, BenchNodes nodes, int? separateCpu = null, bool fillRam = false)
    {
        string name = $"bench{Interlocked.Increment(ref _counter)}-{Environment.ProcessId}-{DateTime.UtcNow.Ticks}";
        var machine = new Machine(MemoryMap.DefaultRamSize);
        ElfLoader.Load(machine, File.ReadAllBytes(image));
        if (fillRam) FillRam(machine);
        _primary = new PrimaryLoop(name, machine, 0, 0, settings, nodes.Primary, this);
        (int Port, AttachToken Token)? secondary = null;
        if (protect && separateCpu is int cpu)
        {
            var (child, port, token) = BenchSecondaryProcess.Start(name, cpu);
            _secondaryProcess = child;
            secondary = (port, token);
        }
        else if (protect)
        {
            var token = AttachToken.New();
            _secondary = new ReplayLoop(name, MemoryMap.DefaultRamSize, nodes.Secondary, token, settings, this);
            secondary = (_secondary.Start(), token);
        }
        StartedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        _primary.Start();
        if (secondary is not { } listening) return;
        _primary.Attach("127.0.0.1", listening.Port, listening.Token);
        if (!_protected.Wait(TimeSpan.FromSeconds(10))) throw new TimeoutException("the secondary never acknowledged");
    }

    public PrimaryLoop Primary => _primary;

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

    void IPrimaryFacts.Released(MachineOutput output) => Released.Add(output);
    void IPrimaryFacts.SecondaryInSync()
    {
        ProtectedAt = DateTime.UtcNow;
        _protected.Set();
    }
    void IPrimaryFacts.SecondaryLost(CloseReason reason, string detail) => _ended.Set();
    void IPrimaryFacts.AttachFailed(string detail) => _ended.Set();
    void IPrimaryFacts.Ended(VmState state, string detail) => _ended.Set();
    void IPrimaryFacts.LogCut(LogSegment segment, byte[] encoded) { }
    void IPrimaryFacts.HashChecked(ulong position, ulong primaryHash, ulong secondaryHash) { }
    void IPrimaryFacts.Checkpoint(long entryIndex, ulong position, byte[] snapshot, bool full) { }
    void IPrimaryFacts.HandedOver(ulong position, double pauseMs) { }
    void IPrimaryFacts.HandoverFailed(string detail) => _ended.Set();
    void ISecondaryFacts.InSync() { }
    void ISecondaryFacts.PrimaryLost(CloseReason reason, string detail, Takeover takeover) { }
    void ISecondaryFacts.Ended(CloseReason? reason, string detail) { }
    void ISecondaryFacts.HandedOver(Takeover takeover) { }
    void ISecondaryFacts.Refused(CloseReason reason, string detail) { }

    public void Dispose()
    {
        _primary.Stop();
        _secondary?.Stop();
        if (_secondaryProcess is { } child && !child.WaitForExit(TimeSpan.FromSeconds(5))) child.Kill();
        _secondaryProcess?.Dispose();
    }
}
