using System.Globalization;
using Lockstep.Harness;

namespace Lockstep.Cluster.Tests;

/// <summary>
/// A `vm send` session fed `&lt;prefix&gt;&lt;i&gt; INCR &lt;key&gt;` for i = 1..count, a few
/// milliseconds apart, from a background task, so the test can break things while it runs.
/// </summary>
public sealed class IncrStream
{
    private readonly Action<string> _log;
    private readonly Action<string> _failed;
    private readonly CancellationToken _cancel;
    private readonly ChildProcess _send;
    private readonly Task _feeder;

    private IncrStream(Action<string> log, Action<string> failed, CancellationToken cancel, ChildProcess send, string prefix, string key, int count, TimeSpan spacing)
    {
        _log = log;
        _failed = failed;
        _cancel = cancel;
        _send = send;
        Prefix = prefix;
        Key = key;
        Count = count;
        _feeder = Task.Run(() => Feed(spacing));
    }

    public string Prefix { get; }
    public string Key { get; }
    public int Count { get; }

    /// <summary>Starts the session through <paramref name="through"/> (default: the cluster's contacts).</summary>
    public static IncrStream Start(TestCluster cluster, string vm, uint peer, string prefix, string key, int count,
        IEnumerable<NodeProcess>? through = null, TimeSpan? spacing = null) =>
        new(cluster.Log, cluster.NoteFailure, cluster.Cancel, cluster.StartSend(vm, peer, through), prefix, key, count, spacing ?? TimeSpan.FromMilliseconds(10));

    /// <summary>Feeds a session already started (<paramref name="send"/>, stdin open), e.g. one through the front door.</summary>
    public static IncrStream Over(TestCluster cluster, ChildProcess send, string prefix, string key, int count, TimeSpan? spacing = null) =>
        new(cluster.Log, cluster.NoteFailure, cluster.Cancel, send, prefix, key, count, spacing ?? TimeSpan.FromMilliseconds(10));

    public int Answered => _send.StdoutLines.Count;

    /// <summary>Waits until at least <paramref name="answers"/> answers came back.</summary>
    public async Task WaitForAnswers(int answers, TimeSpan timeout)
    {
        if (!await _send.WaitForOutput(p => p.StdoutLines.Count >= answers, timeout, _cancel))
            throw Failure(
                $"only {Answered} of the first {answers} answers within {timeout.TotalSeconds} s; stderr:\n{string.Join("\n", _send.StderrLines)}");
    }

    /// <summary>Waits for the session to end (all answered) and returns its answer lines; fails when it does not end well.</summary>
    public async Task<IReadOnlyList<string>> Finish(TimeSpan timeout)
    {
        try
        {
            await _feeder.WaitAsync(timeout, _cancel);
        }
        catch (Exception e)
        {
            throw Failure($"the feeder of vm send ended with {e.GetType().Name}: {e.Message}; {Answered} of {Count} answered");
        }
        if (!await _send.WaitForExit(timeout, _cancel))
        {
            _send.Kill();
            throw Failure(
                $"vm send did not end within {timeout.TotalSeconds} s; {Answered} of {Count} answered; stderr:\n{string.Join("\n", _send.StderrLines)}");
        }
        var lines = _send.StdoutLines;
        _log($"vm send ended with {_send.ExitCode}: {lines.Count} answers; stderr: {string.Join(" | ", _send.StderrLines)}");
        if (_send.ExitCode != 0) throw Failure($"vm send exited with {_send.ExitCode}; stderr:\n{string.Join("\n", _send.StderrLines)}");
        return lines;
    }

    /// <summary>
    /// Lets <paramref name="answersBefore"/> answers come, injects <paramref name="fault"/> while the stream is
    /// still going (<paramref name="what"/> names it in the failure), then waits for the end and asserts every
    /// request was answered exactly once (<see cref="AssertExactlyOnce"/> from 0).
    /// </summary>
    public async Task RunThroughFault(Action fault, string what, int answersBefore, TimeSpan timeout)
    {
        await WaitForAnswers(answersBefore, TimeSpan.FromSeconds(60));
        int answeredAtFault = Answered;
        fault();
        if (answeredAtFault >= Count) throw Failure($"the stream was over ({answeredAtFault} answers) before {what}");
        AssertExactlyOnce(await Finish(timeout), before: 0);
    }

    /// <summary>
    /// Asserts the counter went up by exactly one per request: every request answered once, and, since
    /// requests go one at a time in order, request i answered with <paramref name="before"/> + i.
    /// </summary>
    public void AssertExactlyOnce(IReadOnlyList<string> lines, long before)
    {
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        var problems = new List<string>();
        foreach (string line in lines)
        {
            string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2 || !long.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
            {
                problems.Add($"not an INCR answer: '{line}'");
                continue;
            }
            if (!values.TryAdd(parts[0], value)) problems.Add($"{parts[0]} answered twice ('{line}')");
        }
        for (int i = 1; i <= Count; i++)
        {
            string id = $"{Prefix}{i}";
            if (!values.Remove(id, out long value)) problems.Add($"{id} never answered");
            else if (value != before + i) problems.Add($"{id} answered {value}, expected {before + i}");
        }
        problems.AddRange(values.Keys.Select(id => $"answer to a request never sent: {id}"));
        var sorted = lines.Select(l => l.Split(' ')).Where(p => p.Length == 2 && long.TryParse(p[1], out _))
            .Select(p => long.Parse(p[1], CultureInfo.InvariantCulture)).Order().ToList();
        if (problems.Count > 0)
            throw Failure($"{problems.Count} problems with {lines.Count} answers to {Count} INCRs:\n{string.Join("\n", problems.Take(30))}\n" +
            $"values seen, sorted: {string.Join(",", sorted)}");
    }

    /// <summary>The exception to throw, the message noted for the end of the cluster's failure report too.</summary>
    private Xunit.Sdk.XunitException Failure(string message)
    {
        _failed($"INCR stream {Prefix}: {message}");
        return new Xunit.Sdk.XunitException(message);
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
            // vm send ended early; Finish reports why.
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
