using System.Runtime.InteropServices;

namespace Lockstep.Host.Demo;

/// <summary>
/// Ctrl-C, SIGTERM and SIGHUP end the demo early: the cleanups run at once (so the nodes die even while the
/// demo waits on the cluster) and the token tells the demo to unwind. Should the demo not finish unwinding
/// soon, the process exits anyway. The cleanups also run when the process exits for any other reason.
/// </summary>
public sealed class DemoInterrupt : IDisposable
{
    private static readonly TimeSpan UnwindLimit = TimeSpan.FromSeconds(10);

    public const int ExitCode = 130;

    private readonly CancellationTokenSource _cancel = new();
    private readonly List<Action> _cleanups = [];
    private readonly Lock _lock = new();
    private readonly List<PosixSignalRegistration> _signals = [];
    private readonly ConsoleCancelEventHandler _onCancelKey;
    private readonly EventHandler _onExit;

    public DemoInterrupt()
    {
        _onCancelKey = (_, e) =>
        {
            e.Cancel = true;
            Trigger("Ctrl-C");
        };
        _onExit = (_, _) => RunCleanups();
        Console.CancelKeyPress += _onCancelKey;
        AppDomain.CurrentDomain.ProcessExit += _onExit;
        foreach (var signal in new[] { PosixSignal.SIGTERM, PosixSignal.SIGHUP })
        {
            _signals.Add(PosixSignalRegistration.Create(signal, context =>
            {
                context.Cancel = true;
                Trigger(context.Signal.ToString());
            }));
        }
    }

    public CancellationToken Token => _cancel.Token;

    /// <summary>The signal that interrupted the demo, or null.</summary>
    public string? Reason { get; private set; }

    /// <summary>Registers work that must happen however the demo ends; it must be safe to run more than once.</summary>
    public void OnCleanup(Action cleanup)
    {
        lock (_lock) _cleanups.Add(cleanup);
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= _onCancelKey;
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        foreach (var signal in _signals) signal.Dispose();
        _cancel.Dispose();
    }

    private void Trigger(string reason)
    {
        lock (_lock)
        {
            if (Reason is not null) return;
            Reason = reason;
        }
        // Cleanups first: cancelling runs the demo's continuations on this thread, and the nodes must not wait for them.
        RunCleanups();
        _cancel.Cancel();
        var watchdog = new Thread(() =>
        {
            Thread.Sleep(UnwindLimit);
            Environment.Exit(ExitCode);
        })
        {
            IsBackground = true,
            Name = "demo-watchdog",
        };
        watchdog.Start();
    }

    private void RunCleanups()
    {
        List<Action> cleanups;
        lock (_lock) cleanups = _cleanups.ToList();
        foreach (var cleanup in cleanups)
        {
            try
            {
                cleanup();
            }
            catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                // Best effort: the other cleanups must still run.
            }
        }
    }
}
