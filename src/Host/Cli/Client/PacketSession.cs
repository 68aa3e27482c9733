using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Lockstep.Actors.Protocol;
using Lockstep.Harness;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// `vm send`: feeds request lines to a VM as packets from one peer and prints the VM's answers to that
/// peer. The requests are a <see cref="KvSession"/>: re-sent until answered, so a failover in between costs
/// time, not requests; the guest is expected to answer a repeated request id without executing it twice (as kv does).
/// </summary>
public sealed class PacketSession
{
    private readonly ControlClient _client;
    private readonly string _vm;
    private readonly uint _peer;
    private readonly TimeSpan _timeout;
    private readonly KvSession _requests;
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>();
    private readonly Queue<string> _pending = new();
    private IActorRef _inbox = ActorRefs.Nobody;
    private bool _inputEnded;
    private string? _lastError;

    public PacketSession(ControlClient client, string vm, uint peer, int window, TimeSpan retry, TimeSpan timeout)
    {
        _client = client;
        _vm = vm;
        _peer = peer;
        _timeout = timeout;
        _requests = new KvSession(window, (long)retry.TotalMilliseconds, (long)timeout.TotalMilliseconds);
    }

    /// <summary>Runs until the input ends and every request is answered, or a request times out. Returns the exit status.</summary>
    public int Run(TextReader input, Stream output, TextWriter errors)
    {
        _inbox = _client.CreateInbox(_events.Writer);
        StartReading(input);
        return RunAsync(output, errors).GetAwaiter().GetResult();
    }

    private async Task<int> RunAsync(Stream output, TextWriter errors)
    {
        while (true)
        {
            long now = Environment.TickCount64;
            while (_pending.TryPeek(out var line) && _requests.TryStart(line, now) is { } started)
            {
                _pending.Dequeue();
                Send(started.Request, started.Tag);
            }
            if (_inputEnded && _pending.Count == 0 && _requests.Outstanding.Count == 0) return ExitCodes.Success;

            if (_requests.Expired(now).Count > 0) return GiveUp(errors);
            foreach (var (request, tag) in _requests.DueForResend(now)) Send(request, tag);

            if (await NextEvent(_requests.NextDueInMs(now)) is { } item && Handle(item, output, errors) is int exit) return exit;
        }
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
                line = line.TrimEnd('\r');
                if (!string.IsNullOrWhiteSpace(line)) _pending.Enqueue(line);
                return null;
            case InputEnded:
                _inputEnded = true;
                return null;
            case VmPacket packet when packet.Name == _vm && packet.Peer == _peer:
                string text = Encoding.UTF8.GetString(packet.Data).TrimEnd('\n').TrimEnd('\r');
                if (_requests.Receive(packet.Seq, text).Kind != KvReceiptKind.Repeat)
                {
                    output.Write(Encoding.UTF8.GetBytes(text + "\n"));
                    output.Flush();
                }
                return null;
            case ControlOk:
                _lastError = null;
                return null;
            case ControlError { Message: var message, Kind: var kind }:
                if (kind is ControlErrorKind.UnknownVm or ControlErrorKind.Stopped)
                {
                    errors.WriteLine($"lockstep: {message}");
                    return ExitCodes.BadInput;
                }
                // While a VM fails over the same refusal comes once per retry; once is enough to show.
                if (message != _lastError) errors.WriteLine($"lockstep: {message} (retrying)");
                _lastError = message;
                return null;
            default:
                return null;
        }
    }

    private void Send(KvRequest request, KvTag tag) =>
        _client.Tell(new SendPacket(_vm, _peer, request.Data, tag.ToDeliveryTag()), _inbox);

    private int GiveUp(TextWriter errors)
    {
        string ids = string.Join(", ", _requests.Outstanding.Select(r => r.Id));
        string rest = _pending.Count > 0 || !_inputEnded ? "; the remaining input was not sent" : "";
        errors.WriteLine($"lockstep: no response from {_vm} to request {ids} within {_timeout.TotalSeconds:0.#} s{rest}");
        return ExitCodes.Unavailable;
    }

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
