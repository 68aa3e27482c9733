using System.Globalization;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A `vm send` session of a <see cref="NamespaceCluster"/>, fed `&lt;prefix&gt;&lt;i&gt; INCR &lt;key&gt;`
/// for i = 1..count from a background task, talking only to the nodes it was given.
/// </summary>
public sealed class NamespaceIncrStream
{
    private readonly NamespaceCluster _cluster;
    private readonly ChildProcess _send;
    private readonly Task _feeder;

    private NamespaceIncrStream(NamespaceCluster cluster, ChildProcess send, string prefix, string key, int count, TimeSpan spacing)
    {
        _cluster = cluster;
        _send = send;
        Prefix = prefix;
        Key = key;
        Count = count;
        _feeder = Task.Run(() => Feed(spacing));
    }

    public string Prefix { get; }
    public string Key { get; }
    public int Count { get; }
    public int Answered => _send.StdoutLines.Count;

    public static NamespaceIncrStream Start(NamespaceCluster cluster, string vm, uint peer, string prefix, string key, int count,
        IEnumerable<NamespaceNode> through, TimeSpan? spacing = null) =>
        new(cluster, cluster.StartSend(vm, peer, through), prefix, key, count, spacing ?? TimeSpan.FromMilliseconds(10));

    public async Task WaitForAnswers(int answers, TimeSpan timeout)
    {
        if (!await _send.WaitForOutput(p => p.StdoutLines.Count >= answers, timeout, _cluster.Cancel))
            throw new Xunit.Sdk.XunitException(
                $"only {Answered} of the first {answers} answers within {timeout.TotalSeconds} s; stderr:\n{string.Join("\n", _send.StderrLines)}");
    }

    /// <summary>Waits for the session to end and returns its answer lines; fails when it does not end well.</summary>
    public async Task<IReadOnlyList<string>> Finish(TimeSpan timeout)
    {
        await _feeder.WaitAsync(timeout, _cluster.Cancel);
        if (!await _send.WaitForExit(timeout, _cluster.Cancel))
        {
            _send.Kill();
            throw new Xunit.Sdk.XunitException(
                $"vm send did not end within {timeout.TotalSeconds} s; {Answered} of {Count} answered; stderr:\n{string.Join("\n", _send.StderrLines)}");
        }
        var lines = _send.StdoutLines;
        _cluster.Log($"vm send ({Prefix}) ended with {_send.ExitCode}: {lines.Count} answers; stderr: {string.Join(" | ", _send.StderrLines)}");
        Assert.True(_send.ExitCode == 0, $"vm send exited with {_send.ExitCode}; stderr:\n{string.Join("\n", _send.StderrLines)}");
        return lines;
    }

    /// <summary>Every request answered exactly once, request i with <paramref name="before"/> + i (requests go one at a time, in order).</summary>
    public void AssertExactlyOnce(IReadOnlyList<string> lines, long before)
    {
        var seen = new Dictionary<string, long>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (string line in lines)
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 2 || !long.TryParse(fields[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
                problems.Add($"not an INCR answer: '{line}'");
            else if (!seen.TryAdd(fields[0], value))
                problems.Add($"{fields[0]} answered more than once ('{line}')");
        }
        for (int i = 1; i <= Count; i++)
        {
            string id = Prefix + i.ToString(CultureInfo.InvariantCulture);
            if (!seen.Remove(id, out long value)) problems.Add($"{id} never answered");
            else if (value != before + i) problems.Add($"{id} answered {value}, expected {before + i}");
        }
        foreach (string id in seen.Keys) problems.Add($"answer to a request never sent: {id}");
        Assert.True(problems.Count == 0,
            $"{problems.Count} problems with {lines.Count} answers to {Count} INCRs:\n{string.Join("\n", problems.Take(30))}");
    }

    private async Task Feed(TimeSpan spacing)
    {
        try
        {
            for (int i = 1; i <= Count; i++)
            {
                await _send.Stdin.WriteLineAsync($"{Prefix}{i} INCR {Key}");
                await _send.Stdin.FlushAsync();
                await Task.Delay(spacing);
            }
            _send.Stdin.Close();
        }
        catch (IOException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
