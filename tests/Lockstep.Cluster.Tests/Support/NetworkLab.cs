using System.Diagnostics;
using System.Globalization;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A small network of Linux network namespaces for partition tests: a bridge <c>lsbr0</c>
/// (10.77.0.254/24) in the root namespace and, per node i, a namespace <c>ls-nsI</c> whose
/// <c>eth0</c> has 10.77.0.(i+1)/24 and is one end of a veth pair; the other end, <c>ls-vethI</c>,
/// sits on the bridge. Taking <c>ls-vethI</c> down cuts namespace i off from everything (a pulled
/// cable: packets vanish, nothing is reset); bringing it up heals the link. The file system stays
/// shared, as a SAN would.
/// </summary>
public sealed class NetworkLab : IDisposable
{
    public const string Bridge = "lsbr0";
    public const string BridgeAddress = "10.77.0.254";
    private const int MaxNodes = 8;
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(20);
    private static readonly Lazy<string?> Probe = new(RunProbe);

    private readonly Action<string> _log;
    private bool _disposed;

    private NetworkLab(int count, Action<string> log)
    {
        Count = count;
        _log = log;
    }

    public int Count { get; }

    /// <summary>Null when namespaces can be made here; otherwise why not (probed once per run).</summary>
    public static string? Unavailable => Probe.Value;

    public static string Namespace(int index) => $"ls-ns{index}";
    public static string Veth(int index) => $"ls-veth{index}";
    public static string Address(int index) => $"10.77.0.{index + 1}";

    /// <summary>Builds the bridge and <paramref name="count"/> namespaces, after removing whatever a crashed run left.</summary>
    public static NetworkLab Create(int count, Action<string> log)
    {
        if (count is < 1 or > MaxNodes) throw new ArgumentOutOfRangeException(nameof(count));
        RemoveLeftovers(log);
        var lab = new NetworkLab(count, log);
        try
        {
            Ip("link", "add", Bridge, "type", "bridge");
            Ip("addr", "add", $"{BridgeAddress}/24", "dev", Bridge);
            Ip("link", "set", Bridge, "up");
            for (int i = 0; i < count; i++)
            {
                string ns = Namespace(i);
                Ip("netns", "add", ns);
                Ip("link", "add", Veth(i), "type", "veth", "peer", "name", "eth0", "netns", ns);
                Ip("link", "set", Veth(i), "master", Bridge);
                Ip("link", "set", Veth(i), "up");
                Ip("-n", ns, "addr", "add", $"{Address(i)}/24", "dev", "eth0");
                Ip("-n", ns, "link", "set", "eth0", "up");
                Ip("-n", ns, "link", "set", "lo", "up");
            }
            log($"network lab: bridge {Bridge} {BridgeAddress}/24, namespaces {string.Join(", ", Enumerable.Range(0, count).Select(i => $"{Namespace(i)}={Address(i)}"))}");
            return lab;
        }
        catch
        {
            lab.Dispose();
            throw;
        }
    }

    /// <summary>Cuts namespace <paramref name="index"/> off the bridge.</summary>
    public void Cut(int index)
    {
        Ip("link", "set", Veth(index), "down");
        _log($"network lab: {Veth(index)} down, {Namespace(index)} ({Address(index)}) is cut off");
    }

    /// <summary>Puts namespace <paramref name="index"/> back on the bridge.</summary>
    public void Heal(int index)
    {
        Ip("link", "set", Veth(index), "up");
        _log($"network lab: {Veth(index)} up, {Namespace(index)} ({Address(index)}) is connected again");
    }

    /// <summary>Removes namespaces, veths and bridge; never throws. Kill the processes inside first.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        RemoveAll(Count, _log);
    }

    /// <summary>Best effort: whatever an earlier run of these tests may have left behind.</summary>
    public static void RemoveLeftovers(Action<string> log) => RemoveAll(MaxNodes, log);

    private static void RemoveAll(int count, Action<string> log)
    {
        var existing = TryIp("netns", "list").Output;
        for (int i = 0; i < count; i++)
        {
            string ns = Namespace(i);
            bool present = existing.Split('\n').Any(line => line.Split(' ', 2)[0].Trim() == ns);
            if (present)
            {
                // Only processes inside our own namespaces: the nodes of this or a crashed earlier run.
                foreach (string pid in TryIp("netns", "pids", ns).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    if (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out int id)) continue;
                    try
                    {
                        using var process = Process.GetProcessById(id);
                        process.Kill(entireProcessTree: true);
                        process.WaitForExit(5000);
                        log($"network lab: killed leftover process {id} in {ns}");
                    }
                    catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
                    {
                    }
                }
            }
            if (present)
            {
                var deleted = TryIp("netns", "del", ns);
                if (deleted.ExitCode != 0) log($"network lab: could not delete {ns}: {deleted.Output.Trim()}");
            }
            // Deleting the namespace deletes its eth0 and with it the peer; this is for a veth left alone.
            if (TryIp("link", "show", Veth(i)).ExitCode == 0) TryIp("link", "del", Veth(i));
        }
        if (TryIp("link", "show", Bridge).ExitCode == 0)
        {
            var deleted = TryIp("link", "del", Bridge);
            if (deleted.ExitCode != 0) log($"network lab: could not delete {Bridge}: {deleted.Output.Trim()}");
        }
    }

    private static string? RunProbe()
    {
        string probe = $"ls-probe-{Environment.ProcessId}";
        try
        {
            var added = TryIp("netns", "add", probe);
            if (added.ExitCode != 0) return $"`ip netns add` failed: {added.Output.Trim()}";
            TryIp("netns", "del", probe);
            return null;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or TimeoutException)
        {
            return $"cannot run ip: {e.Message}";
        }
    }

    private static void Ip(params string[] args)
    {
        var (exit, output) = TryIp(args);
        if (exit != 0) throw new InvalidOperationException($"`ip {string.Join(' ', args)}` failed ({exit}): {output.Trim()}");
    }

    private static (int ExitCode, string Output) TryIp(params string[] args)
    {
        var info = new ProcessStartInfo("ip")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not start ip");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(CommandTimeout))
        {
            process.Kill();
            throw new TimeoutException($"`ip {string.Join(' ', args)}` did not finish within {CommandTimeout.TotalSeconds} s");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>A fact that needs network namespaces (root and a working `ip netns`); skipped where they cannot be made.</summary>
public sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    public NetworkNamespaceFactAttribute()
    {
        if (NetworkLab.Unavailable is not null) Skip = "needs root and ip netns";
    }
}
