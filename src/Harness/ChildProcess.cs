using System.Diagnostics;
using System.Text;

namespace Lockstep.Harness;

/// <summary>
/// A process the harness started: its output lines are kept in memory and, when a log file is given,
/// written there as they come. Every one is registered so that nothing outlives the process that started it.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _process;
    private readonly object _gate = new();
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly StreamWriter? _log;
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _changed = new(0);
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ChildProcess(Process process, string description, string? logPath)
    {
        _process = process;
        Description = description;
        if (logPath is not null) _log = new StreamWriter(logPath, append: false, new UTF8Encoding(false)) { AutoFlush = true };
    }

    public string Description { get; }
    /// <summary>The process id, kept from the start so it can still be named after the process is gone.</summary>
    public int Id { get; private set; }

    /// <summary>True once it ended; also after <see cref="Dispose"/>, which ends it.</summary>
    public bool HasExited
    {
        get
        {
            try
            {
                return _process.HasExited;
            }
            catch (InvalidOperationException)
            {
                return true;
            }
        }
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>Completes with the exit status when the process ends.</summary>
    public Task<int> Exited => _exited.Task;

    public static ChildProcess Start(ProcessStartInfo info, string description, string? logPath = null)
    {
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, description, logPath);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data, isError: false);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data, isError: true);
        process.Exited += (_, _) => child.OnExit();
        if (!process.Start()) throw new InvalidOperationException($"could not start {description}");
        child.Id = process.Id;
        ProcessRegistry.Add(child);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public IReadOnlyList<string> StdoutLines
    {
        get { lock (_gate) return _stdout.ToList(); }
    }

    public IReadOnlyList<string> StderrLines
    {
        get { lock (_gate) return _stderr.ToList(); }
    }

    /// <summary>Everything the process printed so far, both streams interleaved as they arrived.</summary>
    public string AllOutput
    {
        get { lock (_gate) return _all.ToString(); }
    }

    private readonly StringBuilder _all = new();

    public StreamWriter Stdin => _process.StandardInput;

    /// <summary>Waits until <paramref name="condition"/> holds for the output, the process ends, or the time is up.</summary>
    public async Task<bool> WaitForOutput(Func<ChildProcess, bool> condition, TimeSpan timeout, CancellationToken cancel)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (condition(this)) return true;
            var left = timeout - deadline.Elapsed;
            if (left <= TimeSpan.Zero || _process.HasExited && _stdoutClosed.Task.IsCompleted && _stderrClosed.Task.IsCompleted)
                return condition(this);
            // A short slice even when woken, so that a process that ended is noticed.
            var slice = left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250);
            await _changed.WaitAsync(slice, cancel);
        }
    }

    /// <summary>Waits for the exit and for the last output line; false when the time is up first (the process is left running).</summary>
    public async Task<bool> WaitForExit(TimeSpan timeout, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(limit.Token);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(TimeSpan.FromSeconds(5), limit.Token);
            return true;
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return false;
        }
        catch (TimeoutException)
        {
            return _process.HasExited;
        }
    }

    /// <summary>SIGKILL, to the process and anything it started.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
    }

    /// <summary>Sends a signal by name (STOP, CONT, TERM) with the system's kill command.</summary>
    /// <summary>
    /// "INT" (Ctrl-C), or "TERM" where this process was itself started with SIGINT ignored: a shell without job control
    /// starts its background commands so, children inherit it, and a .NET process whose SIGINT was ignored from the start
    /// never sees one (checked: `lockstep node` started that way stays up on SIGINT). A test of a clean stop on an
    /// interrupt then asks with SIGTERM, which every command that stops on Ctrl-C also handles.
    /// </summary>
    public static string InterruptSignal => InheritsIgnoredSigint() ? "TERM" : "INT";

    private static bool InheritsIgnoredSigint()
    {
        const string field = "SigIgn:";
        if (!File.Exists("/proc/self/status")) return false;
        string? line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
        if (line is null) return false;
        ulong ignored = Convert.ToUInt64(line[field.Length..].Trim(), 16);
        return (ignored & (1UL << (2 - 1))) != 0; // bit n-1 is signal n; SIGINT is 2
    }

    public void Signal(string name) => Signal(name, [this]);

    /// <summary>Sends signal <paramref name="name"/> to all of <paramref name="processes"/> in one `kill` (microseconds apart, not a process start apart).</summary>
    public static void Signal(string name, IReadOnlyCollection<ChildProcess> processes)
    {
        var info = new ProcessStartInfo("kill") { UseShellExecute = false, RedirectStandardError = true };
        info.ArgumentList.Add($"-{name}");
        foreach (var process in processes) info.ArgumentList.Add(process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        string ids = string.Join(" ", processes.Select(p => p.Id));
        using var kill = Process.Start(info) ?? throw new InvalidOperationException("could not run kill");
        string error = kill.StandardError.ReadToEnd();
        if (!kill.WaitForExit(10_000)) throw new TimeoutException($"kill -{name} {ids} did not finish");
        if (kill.ExitCode != 0) throw new InvalidOperationException($"kill -{name} {ids} failed: {error.Trim()}");
    }

    public void Dispose()
    {
        Kill();
        try
        {
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        ProcessRegistry.Remove(this);
        _process.Dispose();
        lock (_gate) _log?.Dispose();
    }

    private void OnExit()
    {
        try
        {
            _exited.TrySetResult(_process.ExitCode);
        }
        catch (InvalidOperationException)
        {
            // Disposed meanwhile: nobody is left to ask for the status.
            _exited.TrySetResult(-1);
        }
    }

    private void OnLine(string? line, bool isError)
    {
        if (line is null)
        {
            (isError ? _stderrClosed : _stdoutClosed).TrySetResult();
            _changed.Release();
            return;
        }
        lock (_gate)
        {
            (isError ? _stderr : _stdout).Add(line);
            _all.Append(line).Append('\n');
            try
            {
                _log?.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
        _changed.Release();
    }
}
