using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Engine.Snapshots;

// Resident memory per idle VM: boots N machines on one guest (kv by default) in this process until
// each sleeps waiting for input, and divides the growth of the process's resident set by N. One
// machine is booted first and kept, so that JIT-compiled engine code and the runtime's own start-up
// are part of the baseline, not of the figure. Then the peak resident memory while machines with all
// of their RAM written are created and dropped one after another.
//   usage: vm-memory GUEST.elf [machines] [memory bytes]

if (args.Length is < 1 or > 3)
{
    Console.Error.WriteLine("usage: vm-memory GUEST.elf [machines] [memory bytes]");
    return 2;
}
byte[] image = File.ReadAllBytes(args[0]);
int count = args.Length > 1 ? int.Parse(args[1]) : 100;
uint memory = args.Length > 2 ? uint.Parse(args[2]) : MemoryMap.DefaultRamSize;
if (count < 1)
{
    Console.Error.WriteLine("vm-memory: at least one machine");
    return 2;
}

Machine Boot()
{
    var machine = new Machine(memory, new LiveInputs());
    ElfLoader.Load(machine, image);
    for (int slice = 0; ; slice++)
    {
        var reason = machine.Run(LiveInputs.PollInterval);
        machine.Outputs.Clear();
        if (reason == StopReason.Waiting) return machine;
        if (reason is StopReason.Halted or StopReason.Faulted || slice > 100_000)
            throw new InvalidOperationException($"the guest did not go idle: {reason} after {machine.Position} instructions");
    }
}

long Resident()
{
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();
    foreach (string line in File.ReadLines("/proc/self/status"))
        if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0]) * 1024;
    throw new InvalidOperationException("no VmRSS in /proc/self/status");
}

var first = Boot();
long baseline = Resident();
var machines = new List<Machine>(count);
for (int i = 0; i < count; i++) machines.Add(Boot());
long after = Resident();
GC.KeepAlive(first);
double perMachine = (after - baseline) / (double)count;
Console.WriteLine($"guest: {Path.GetFileName(args[0])}, {memory / 1024 / 1024} MiB RAM each, {count} machines booted until idle (at {first.Position} instructions)");
Console.WriteLine($"resident: {baseline / 1048576.0:F1} MiB with one machine, {after / 1048576.0:F1} MiB with {count + 1}");
Console.WriteLine($"per machine: {perMachine / 1048576.0:F3} MiB resident (target <= 2 MiB)");
Console.WriteLine($"each: {first.TouchedPageCount} pages of RAM written, {first.CompiledRegions} regions compiled");
Console.WriteLine($"idle snapshot: {MachineSnapshot.CaptureFull(first).Length / 1024.0:F1} KiB of {memory / 1024} KiB RAM");
GC.KeepAlive(machines);
machines.Clear();

// Machines dropped with much RAM written: the GC sees none of that native memory unless told of it,
// and without a collection it stays resident.
var noise = new byte[memory];
new Random(1).NextBytes(noise);
long peak = 0;
const int dropped = 150;
for (int i = 0; i < dropped; i++)
{
    var machine = new Machine(memory);
    machine.TryWriteRam(MemoryMap.RamBase, noise);
    peak = Math.Max(peak, Environment.WorkingSet);
}
Console.WriteLine($"{dropped} machines with all {memory / 1024 / 1024} MiB written, one after another, each dropped: peak resident {peak / 1048576.0:F0} MiB");
return 0;
