using Lockstep.Harness;
using Lockstep.Host.Cli;

namespace Lockstep.Host.Demo;

/// <summary>The demo's command line.</summary>
/// <param name="BasePort">First port to try for the nodes.</param>
/// <param name="LoadSeconds">Seconds of load before the primary's node is killed.</param>
/// <param name="AfterSeconds">Seconds of load once the VM is Protected again.</param>
/// <param name="Image">The kv guest image.</param>
/// <param name="Keep">Keep the working folder (node logs, journal, the clients' answers) for debugging.</param>
/// <param name="ViaCluster">The clients' packets through ClusterClient instead of the front door (for comparison).</param>
public sealed record DemoOptions(int BasePort, double LoadSeconds, double AfterSeconds, string Image, bool Keep, bool ViaCluster = false)
{
    public const string DefaultImage = "guests/bin/kv.elf";
    public const int NodeCount = 3;
    public const int Clients = 4;
    public const string VmName = "demo-kv";
    public const uint MemorySize = 16 * 1024 * 1024;

    /// <summary>The nodes' addresses: distinct loopback addresses, so that every node can bind the VM's port, as separate hosts would.</summary>
    public static readonly IReadOnlyList<System.Net.IPAddress> Hosts =
        Enumerable.Range(1, NodeCount).Select(i => System.Net.IPAddress.Parse($"127.0.0.{i}")).ToList();

    /// <summary>A request still unanswered after this long counts as lost.</summary>
    public static readonly TimeSpan GiveUp = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The guest image: as given when it exists from the current directory, else, when relative, in the
    /// repository the program was built in, so the default works from any working directory.
    /// </summary>
    public string ImagePath()
    {
        if (File.Exists(Image)) return Path.GetFullPath(Image);
        if (!Path.IsPathRooted(Image) && RepoRoot.TryFind(AppContext.BaseDirectory) is { } repository
            && File.Exists(Path.Combine(repository, Image)))
            return Path.Combine(repository, Image);
        throw new UsageException($"--image {Image}: no such file (build the guests with `make -C guests`)");
    }
}
