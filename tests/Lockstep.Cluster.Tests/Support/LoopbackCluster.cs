using System.Diagnostics;
using System.Net;
using Lockstep.Harness;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A <see cref="TestCluster"/> whose nodes run on distinct loopback addresses (127.0.0.1, .2, .3, ...) and
/// all on the same port, as on separate hosts: every node can then bind the same exposed port.
/// </summary>
/// <param name="hocon">Lines added to the nodes' node.conf (a copy in the test's folder); null: the repository's as it is.</param>
/// <param name="limit">How long the test may run at most (see <see cref="TestCluster"/>).</param>
public sealed class LoopbackCluster(ProgramFixture program, ITestOutputHelper output, string testName, int port, string? hocon = null, TimeSpan? limit = null)
    : TestCluster(program, output, testName, port, limit: limit)
{
    public static IPAddress HostOf(int index) => IPAddress.Parse($"127.0.0.{index + 1}");

    protected override IReadOnlyList<(string Host, int Port)> PrepareNodes(int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (!FreePorts.IsFree(BasePort, HostOf(i)))
                throw new InvalidOperationException($"port {BasePort} is already in use on {HostOf(i)}; this test needs it free");
        }
        return Enumerable.Range(0, count).Select(i => (HostOf(i).ToString(), BasePort)).ToList();
    }

    protected override ProcessStartInfo WrapNode(int index, ProcessStartInfo info)
    {
        if (hocon is null) return info;
        string folder = Path.Combine(Folder, "hocon");
        if (!Directory.Exists(folder))
        {
            Directory.CreateDirectory(folder);
            foreach (string file in Directory.GetFiles(RepoRoot.Hocon)) File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            File.AppendAllText(Path.Combine(folder, "node.conf"), "\n" + hocon + "\n");
        }
        info.Environment["LOCKSTEP_HOCON"] = folder;
        return info;
    }
}
