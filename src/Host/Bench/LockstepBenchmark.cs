using System.Diagnostics;
using System.Text;
using Lockstep.Actors.Claims;
using Lockstep.Actors.Lockstep;
using Lockstep.Engine.Cpu;
using Lockstep.Engine.Snapshots;

namespace Lockstep.Host.Bench;

/// <summary>
/// Measures what protection costs on the lockstep data path, each figure next to its reference
/// from the same run: request latency (protected, unprotected, raw TCP round trip), throughput
/// ratios for bench and kv, log bandwidth, and the re-protection pause.
/// </summary>
public static class LockstepBenchmark
{
    public static int Run(string guests, int requests, int? secondaryCpu = null)
    {
        string dir = Directory.CreateTempSubdirectory("lockstep-bench-").FullName;
        try
        {
            string claimsPath = Path.Combine(dir, "claims.db");
            var claims = new SqliteClaimStore(claimsPath);
            (string, int)? separate = secondaryCpu is int cpu ? (claimsPath, cpu) : null;
            var settings = LockstepSettings.Default;
            string kv = Path.Combine(guests, "kv.elf"), bench = Path.Combine(guests, "bench.elf");

            Console.WriteLine($"# lockstep benchmark ({Environment.ProcessorCount} cores, {requests} requests per latency run" +
                (separate is null ? ", secondary in this process)" : $", secondary in its own process on core {secondaryCpu})"));
            var tcp = TcpEcho.RoundTrips(requests * 2);
            Console.WriteLine($"raw loopback TCP round trip      {tcp}");
            var unprotectedLatency = Latency(kv, false, claims, settings, requests);
            Console.WriteLine($"kv request, unprotected          {unprotectedLatency}");
            var protectedLatency = Latency(kv, true, claims, settings, requests, separate);
            Console.WriteLine($"kv request, protected            {protectedLatency}");
            Console.WriteLine($"added latency p50: {protectedLatency.P50 - unprotectedLatency.P50:F1} µs = {(protectedLatency.P50 - unprotectedLatency.P50) / tcp.P50:F2} x raw TCP RTT; protected p50 = {protectedLatency.P50 / tcp.P50:F2} x raw TCP RTT (target <= 3)");

            // Throughput is noisy on a small shared machine: unprotected and protected runs alternate,
            // and the medians are compared (every trial is printed too).
            var plainKv = new List<(double Ops, double LogRate, double PauseMs, double CpuUs)>();
            var protKv = new List<(double Ops, double LogRate, double PauseMs, double CpuUs)>();
            for (int trial = 0; trial < ThroughputTrials; trial++)
            {
                plainKv.Add(KvThroughput(kv, false, claims, settings, requests * 5));
                protKv.Add(KvThroughput(kv, true, claims, settings, requests * 5, separate));
                Console.WriteLine($"  kv trial {trial + 1}: unprotected {plainKv[^1].Ops:F0} req/s ({plainKv[^1].CpuUs:F1} µs CPU/request), "
                    + $"protected {protKv[^1].Ops:F0} req/s ({protKv[^1].CpuUs:F1} µs CPU/request), ratio {protKv[^1].Ops / plainKv[^1].Ops:F3}");
            }
            double plainOps = Median(plainKv.Select(t => t.Ops)), protOps = Median(protKv.Select(t => t.Ops));
            double logRate = Median(protKv.Select(t => t.LogRate)), pause = Median(protKv.Select(t => t.PauseMs));
            Console.WriteLine($"kv throughput (median of {ThroughputTrials}): unprotected {plainOps:F0} req/s, protected {protOps:F0} req/s, ratio {protOps / plainOps:F3} (target >= 0.95)");
            Console.WriteLine($"CPU per kv request (whole process, driver included, median): unprotected {Median(plainKv.Select(t => t.CpuUs)):F1} µs, protected {Median(protKv.Select(t => t.CpuUs)):F1} µs");
            Console.WriteLine($"log bandwidth under kv load: {logRate / 1024:F1} KiB/s ({logRate / protOps:F0} bytes per request)");

            var plainBench = new List<double>();
            var protBench = new List<double>();
            for (int trial = 0; trial < ThroughputTrials; trial++)
            {
                plainBench.Add(BenchSeconds(bench, false, claims, settings));
                protBench.Add(BenchSeconds(bench, true, claims, settings, separate));
                Console.WriteLine($"  bench trial {trial + 1}: unprotected {plainBench[^1]:F3} s, protected {protBench[^1]:F3} s, ratio {plainBench[^1] / protBench[^1]:F3}");
            }
            Console.WriteLine($"bench (median of {ThroughputTrials}): unprotected {Median(plainBench):F3} s, protected {Median(protBench):F3} s, throughput ratio {Median(plainBench) / Median(protBench):F3} (target >= 0.95)");

            Console.WriteLine($"re-protection pause (kv, 16 MiB guest): {pause:F2} ms (target < 50 ms)");
            Console.WriteLine($"snapshot capture of a 16 MiB guest with every page written: {FullSnapshotMs():F2} ms");
            return 0;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    private const int ThroughputTrials = 5;

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static Percentiles Latency(string kv, bool protect, ClaimStore claims, LockstepSettings settings, int count, (string, int)? separate = null)
    {
        using var vm = new BenchVm(kv, protect, claims, settings, separate);
        WaitReady(vm);
        var samples = new List<double>(count);
        for (int i = 0; i < count + 100; i++)
        {
            long start = Stopwatch.GetTimestamp();
            vm.Deliver(1, Encoding.ASCII.GetBytes($"{i} INCR k"));
            NextPacket(vm);
            if (i >= 100) samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds); // the first ones warm the JIT
        }
        return new Percentiles(samples);
    }

    private static (double OpsPerSecond, double LogBytesPerSecond, double PauseMs, double CpuUsPerRequest) KvThroughput(
        string kv, bool protect, ClaimStore claims, LockstepSettings settings, int count, (string, int)? separate = null)
    {
        using var vm = new BenchVm(kv, protect, claims, settings, separate);
        WaitReady(vm);
        const int window = 32;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        int sent = 0, answered = 0;
        while (answered < count)
        {
            while (sent < count && sent - answered < window) vm.Deliver(1, Encoding.ASCII.GetBytes($"{sent++} INCR k"));
            NextPacket(vm);
            answered++;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuUs = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds / count;
        var stats = vm.Primary.Stats();
        return (count / seconds, stats.LogBytesShipped / seconds, stats.LastReprotectPauseMs, cpuUs);
    }

    private static double BenchSeconds(string bench, bool protect, ClaimStore claims, LockstepSettings settings, (string, int)? separate = null)
    {
        using var vm = new BenchVm(bench, protect, claims, settings, separate);
        if (!vm.WaitEnded(TimeSpan.FromMinutes(2))) throw new TimeoutException("bench did not finish");
        return Stopwatch.GetElapsedTime(vm.StartedAt).TotalSeconds; // from the guest's start: a secondary process's start-up is not the guest's time
    }

    private static double FullSnapshotMs()
    {
        var machine = new Machine(MemoryMap.DefaultRamSize);
        var fill = new byte[machine.RamSize];
        new Random(1).NextBytes(fill);
        machine.TryWriteRam(MemoryMap.RamBase, fill);
        MachineSnapshot.CaptureFull(machine);
        var clock = Stopwatch.StartNew();
        MachineSnapshot.CaptureFull(machine);
        return clock.Elapsed.TotalMilliseconds;
    }

    private static void WaitReady(BenchVm vm)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var console = new StringBuilder();
        while (!console.ToString().Contains("kv: ready"))
        {
            if (!vm.Released.TryTake(out var output, deadline - DateTime.UtcNow)) throw new TimeoutException("kv never said ready");
            if (output.Kind == OutputKind.Console) console.Append(Encoding.ASCII.GetString(output.Data));
        }
    }

    private static MachineOutput NextPacket(BenchVm vm)
    {
        while (true)
        {
            if (!vm.Released.TryTake(out var output, TimeSpan.FromSeconds(10))) throw new TimeoutException("no answer from kv");
            if (output.Kind == OutputKind.Packet) return output;
        }
    }
}
