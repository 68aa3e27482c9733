using Lockstep.Host.Cli.Certificates;
using Lockstep.Replication;
using Lockstep.Replication.Links;
using System.Security.Cryptography.X509Certificates;

namespace Lockstep.Host.Bench;

/// <summary>
/// `lockstep bench lockstep --tls`: what TLS on the lockstep links costs. The same kv requests through a
/// protected VM whose link is plain and one whose link is mutual TLS, each next to an unprotected VM, in
/// alternating trials of one run (the machine is shared: the ratios are what count).
/// </summary>
public static class TlsBenchmark
{
    public static int Run(string guests, int requests, int trials)
    {
        string kv = Path.Combine(guests, "kv.elf");
        var plainSettings = LockstepSettings.Default;
        var tlsSettings = plainSettings with { Tls = TestIdentity() };
        using var plainNodes = new BenchNodes(plainSettings);
        using var tlsNodes = new BenchNodes(tlsSettings);
        Console.WriteLine($"# lockstep benchmark, TLS on the links ({Environment.ProcessorCount} cores, {requests} requests per latency run, {trials} trials)");

        var latency = new Dictionary<string, List<Percentiles>> { ["unprotected"] = [], ["plain"] = [], ["tls"] = [] };
        var ratio = new Dictionary<string, List<double>> { ["plain"] = [], ["tls"] = [] };
        // Warm-up, not counted: the JIT's final tier and the TLS session set-up.
        LockstepBenchmark.KvThroughput(kv, true, plainSettings, plainNodes, requests * 2, 32);
        LockstepBenchmark.KvThroughput(kv, true, tlsSettings, tlsNodes, requests * 2, 32);
        for (int trial = 1; trial <= trials; trial++)
        {
            latency["unprotected"].Add(LockstepBenchmark.Latency(kv, false, plainSettings, plainNodes, requests));
            latency["plain"].Add(LockstepBenchmark.Latency(kv, true, plainSettings, plainNodes, requests));
            latency["tls"].Add(LockstepBenchmark.Latency(kv, true, tlsSettings, tlsNodes, requests));
            double unprotectedOps = LockstepBenchmark.KvThroughput(kv, false, plainSettings, plainNodes, requests * 5, 32).OpsPerSecond;
            double plainOps = LockstepBenchmark.KvThroughput(kv, true, plainSettings, plainNodes, requests * 5, 32).OpsPerSecond;
            double tlsOps = LockstepBenchmark.KvThroughput(kv, true, tlsSettings, tlsNodes, requests * 5, 32).OpsPerSecond;
            ratio["plain"].Add(plainOps / unprotectedOps);
            ratio["tls"].Add(tlsOps / unprotectedOps);
            Console.WriteLine($"  trial {trial}: latency unprotected {latency["unprotected"][^1]}");
            Console.WriteLine($"           protected, plain link {latency["plain"][^1]}");
            Console.WriteLine($"           protected, TLS link   {latency["tls"][^1]}");
            Console.WriteLine($"           kv 32 in flight: unprotected {unprotectedOps:F0} req/s, plain link {plainOps:F0} req/s (ratio {ratio["plain"][^1]:F3}), "
                + $"TLS link {tlsOps:F0} req/s (ratio {ratio["tls"][^1]:F3})");
        }
        double Median50(string side) => LockstepBenchmark.Median(latency[side].Select(p => p.P50));
        double Median99(string side) => LockstepBenchmark.Median(latency[side].Select(p => p.P99));
        Console.WriteLine($"added output latency (median of {trials} trials), plain link: p50 {Median50("plain") - Median50("unprotected"):F1} µs, p99 {Median99("plain") - Median99("unprotected"):F1} µs");
        Console.WriteLine($"added output latency (median of {trials} trials), TLS link:   p50 {Median50("tls") - Median50("unprotected"):F1} µs, p99 {Median99("tls") - Median99("unprotected"):F1} µs");
        Console.WriteLine($"TLS's own share: p50 {Median50("tls") - Median50("plain"):F1} µs, p99 {Median99("tls") - Median99("plain"):F1} µs");
        Console.WriteLine($"kv throughput ratio protected/unprotected (median of {trials}): plain link {LockstepBenchmark.Median(ratio["plain"]):F3}, "
            + $"TLS link {LockstepBenchmark.Median(ratio["tls"]):F3}");
        return 0;
    }

    /// <summary>A throw-away cluster identity made by `cert create`, loaded as a node loads its own.</summary>
    private static LinkTls TestIdentity()
    {
        string folder = Path.Combine(Path.GetTempPath(), $"lockstep-bench-tls-{Guid.NewGuid():N}");
        try
        {
            TestClusterCertificates.Create(folder);
            string password = File.ReadAllText(Path.Combine(folder, TestClusterCertificates.PasswordFile)).Trim();
            return new LinkTls(X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(folder, TestClusterCertificates.NodeFile), password),
                X509CertificateLoader.LoadCertificateFromFile(Path.Combine(folder, TestClusterCertificates.CaFile)));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
