using System.Text;
using System.Threading.Channels;
using Lockstep.Harness;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// `vm send`: feeds request lines to a VM as packets and prints the VM's answers to this client, over an
/// <see cref="IPacketPath"/>. The requests are a <see cref="KvSession"/>: re-sent until answered, so a failover in
/// between costs time, not requests; the guest is expected to answer a repeated request id without executing it
/// twice (as kv does). A line too long for one packet is not sent; the others go on, and the exit status says so.
/// </summary>
public sealed class PacketSession
{
    private readonly IPacketPath _path;
    private readonly string _vm;
    private readonly TimeSpan _timeout;
    private readonly KvSession _requests;
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>();
    private readonly Queue<string> _pending = new();
    private readonly RequestPacer? _pacer;
    private bool _inputEnded;
    private long _lineNumber;
    private int _refusedLines;

    /// <param name="pacer">Limits how fast requests start (a front-door path: <see cref="RequestPacer"/>); null: no limit.</param>
    public PacketSession(IPacketPath path, string vm, int window, TimeSpan retry, TimeSpan timeout, RequestPacer? pacer = null)
    {
        _path = path;
        _pacer = pacer;
        _vm = vm;
        _timeout = timeout;
        _requests = new KvSession(window, (long)retry.TotalMilliseconds, (long)timeout.TotalMilliseconds);
    }

    /// <summary>Runs until the input ends and every request is answered, or a request times out. Returns the exit status.</summary>
    public int Run(TextReader input, Stream output, TextWriter errors)
    {
        _path.Start(_events.Writer);
        StartReading(input);
        return RunAsync(output, errors).GetAwaiter().GetResult();
    }

    private async Task<int> RunAsync(Stream output, TextWriter errors)
    {
        while (true)
        {
            long now = Environment.TickCount64;
            var started = new List<(KvRequest, KvTag)>();
            while (_pending.TryPeek(out var line) && (_pacer?.WaitMs(now) ?? 0) == 0 && _requests.TryStart(line, now) is { } next)
            {
                _pending.Dequeue();
                _pacer?.Started(now);
                started.Add(next);
            }
            if (started.Count > 0) _path.Send(started, resend: false);
            if (_inputEnded && _pending.Count == 0 && _requests.Outstanding.Count == 0)
                return _refusedLines == 0 ? ExitCodes.Success : ExitCodes.BadInput;

            if (_requests.Expired(now).Count > 0) return GiveUp(errors);
            var due = _requests.DueForResend(now);
            if (due.Count > 0)
            {
                _path.Send(due, resend: true);
                _pacer?.Resent(now);
            }

            if (await NextEvent(NextWakeMs(now)) is { } item && Handle(item, output, errors) is int exit) return exit;
        }
    }

    /// <summary>When a resend or expiry is due, or a request held back by the pacer may start; null: only an event can change anything.</summary>
    private long? NextWakeMs(long now)
    {
        long? due = _requests.NextDueInMs(now);
        if (_pending.Count == 0 || _pacer is null) return due;
        long paced = _pacer.WaitMs(now);
        // 0: the window is full, not the pacer; only an answer (an event) or a due resend frees it.
        if (paced == 0) return due;
        return due is long d ? Math.Min(d, paced) : paced;
    }

    /// <summary>The next event, or null when <paramref name="waitMs"/> (null: no limit) passes first.</summary>
    private async Task<object?> NextEvent(long? waitMs)
    {
        if (_events.Reader.TryRead(out var ready)) return ready;
        if (waitMs <= 0) return null;
        using var timer = new CancellationTokenSource();
        if (waitMs is long limit) timer.CancelAfter(TimeSpan.FromMilliseconds(limit));
        try
        {
            await _events.Reader.WaitToReadAsync(timer.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        return _events.Reader.TryRead(out var item) ? item : null;
    }

    /// <returns>An exit status when the session must end now, else null.</returns>
    private int? Handle(object item, Stream output, TextWriter errors)
    {
        switch (item)
        {
            case InputLine { Text: var line }:
                _lineNumber++;
                line = line.TrimEnd('\r');
                if (string.IsNullOrWhiteSpace(line)) return null;
                int length = Encoding.UTF8.GetByteCount(line);
                if (length > _path.MaxPacket)
                {
                    errors.WriteLine($"lockstep: input line {_lineNumber} not sent: {length:N0} bytes, a packet {_path.Route} holds at most {_path.MaxPacket:N0}");
                    _refusedLines++;
                    return null;
                }
                _pending.Enqueue(line);
                return null;
            case InputEnded:
                _inputEnded = true;
                return null;
            case PathAnswer { Seq: var seq, Text: var text }:
                var receipt = seq is { } number ? _requests.Receive(number, text) : _requests.Receive(text);
                if (receipt.Kind != KvReceiptKind.Repeat)
                {
                    output.Write(Encoding.UTF8.GetBytes(text + "\n"));
                    output.Flush();
                }
                return null;
            case PathRefusal { Message: var message, Final: true }:
                errors.WriteLine($"lockstep: {message}{NotSent()}");
                return ExitCodes.BadInput;
            case PathRefusal { Message: var message }:
                errors.WriteLine($"lockstep: {message} (retrying)");
                return null;
            default:
                return null;
        }
    }

    private int GiveUp(TextWriter errors)
    {
        string ids = string.Join(", ", _requests.Outstanding.Select(r => r.Id));
        errors.WriteLine($"lockstep: no response from {_vm} to request {ids} within {_timeout.TotalSeconds:0.#} s {_path.Route}{NotSent()}");
        return ExitCodes.Unavailable;
    }

    private string NotSent() => _pending.Count > 0 || !_inputEnded ? "; the remaining input was not sent" : "";

    private void StartReading(TextReader input)
    {
        // A background thread, so a session that ends early does not wait for the user to close stdin.
        var reader = new Thread(() =>
        {
            try
            {
                while (input.ReadLine() is { } line) _events.Writer.TryWrite(new InputLine(line));
            }
            catch (IOException)
            {
            }
            _events.Writer.TryWrite(new InputEnded());
        })
        {
            IsBackground = true,
            Name = "stdin",
        };
        reader.Start();
    }

    private sealed record InputLine(string Text);

    private sealed record InputEnded;
}
