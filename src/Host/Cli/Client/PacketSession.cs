using System.Text;
using System.Threading.Channels;
using Akka.Actor;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// `vm send`: feeds request lines to a VM as packets from one peer and prints the VM's answers to that
/// peer. A request is re-sent until answered, so a failover in between costs time, not requests; the guest
/// is expected to answer a repeated request id without executing it twice (as kv does).
/// </summary>
public sealed class PacketSession
{
    private readonly ControlClient _client;
    private readonly string _vm;
    private readonly uint _peer;
    private readonly int _window;
    private readonly long _retryMs;
    private readonly long _timeoutMs;
    private readonly Channel<object> _events = Channel.CreateUnbounded<object>();
    private readonly Queue<Request> _pending = new();
    private readonly List<Request> _outstanding = [];
    private readonly HashSet<string> _answered = [];
    private readonly HashSet<ulong> _printedSeqs = [];
    private readonly long _session = Random.Shared.NextInt64();
    private long _nextOrdinal;
    private IActorRef _inbox = ActorRefs.Nobody;
    private bool _inputEnded;
    private string? _lastError;

    public PacketSession(ControlClient client, string vm, uint peer, int window, TimeSpan retry, TimeSpan timeout)
    {
        _client = client;
        _vm = vm;
        _peer = peer;
        _window = window;
        _retryMs = (long)retry.TotalMilliseconds;
        _timeoutMs = (long)timeout.TotalMilliseconds;
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
            SendWhatFits();
            if (_inputEnded && _pending.Count == 0 && _outstanding.Count == 0) return ExitCodes.Success;

            long now = Environment.TickCount64;
            if (_outstanding.Any(r => now - r.FirstSentAt >= _timeoutMs)) return GiveUp(errors);
            foreach (var request in _outstanding.Where(r => now - r.LastSentAt >= _retryMs)) Send(request, now);

            long? waitMs = _outstanding.Count == 0
                ? null
                : _outstanding.Min(r => Math.Min(r.LastSentAt + _retryMs, r.FirstSentAt + _timeoutMs)) - now;
            if (await NextEvent(waitMs) is { } item && Handle(item, output, errors) is int exit) return exit;
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
                if (!string.IsNullOrWhiteSpace(line)) _pending.Enqueue(new Request(line, FirstToken(line)));
                return null;
            case InputEnded:
                _inputEnded = true;
                return null;
            case VmPacket packet when packet.Name == _vm && packet.Peer == _peer:
                Receive(packet, output);
                return null;
            case ControlOk:
                _lastError = null;
                return null;
            case ControlError { Message: var message }:
                if (message.Contains("unknown VM", StringComparison.OrdinalIgnoreCase))
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

    private void Receive(VmPacket packet, Stream output)
    {
        // A new primary may release again what the old one already released; Seq identifies the output.
        if (!_printedSeqs.Add(packet.Seq)) return;
        string text = Encoding.UTF8.GetString(packet.Data).TrimEnd('\n').TrimEnd('\r');
        string id = FirstToken(text);
        // kv answers "-" when it could not read the id; with nothing better to go by, it answers the oldest request.
        var request = _outstanding.Find(r => r.Id == id) ?? (id == "-" ? _outstanding.FirstOrDefault() : null);
        if (request is not null)
        {
            _outstanding.Remove(request);
            _answered.Add(request.Id);
        }
        // The answer to a copy sent again after the original was already answered.
        else if (_answered.Contains(id)) return;
        output.Write(Encoding.UTF8.GetBytes(text + "\n"));
        output.Flush();
    }

    private void SendWhatFits()
    {
        long now = Environment.TickCount64;
        while (_outstanding.Count < _window && _pending.TryPeek(out var next))
        {
            // Two requests in flight with one id could not be told apart, so the second waits.
            if (_outstanding.Exists(r => r.Id == next.Id)) break;
            _pending.Dequeue();
            next.Ordinal = _nextOrdinal++;
            next.FirstSentAt = now;
            _outstanding.Add(next);
            Send(next, now);
        }
    }

    private void Send(Request request, long now)
    {
        request.LastSentAt = now;
        // Everything below the oldest outstanding request is answered: copies of those still in flight can be dropped.
        long answeredBelow = _outstanding.Count == 0 ? _nextOrdinal : _outstanding.Min(r => r.Ordinal);
        _client.Tell(new SendPacket(_vm, _peer, request.Data, new DeliveryTag(_session, request.Ordinal, answeredBelow)), _inbox);
    }

    private int GiveUp(TextWriter errors)
    {
        string ids = string.Join(", ", _outstanding.Select(r => r.Id));
        string rest = _pending.Count > 0 || !_inputEnded ? "; the remaining input was not sent" : "";
        errors.WriteLine($"lockstep: no response from {_vm} to request {ids} within {_timeoutMs / 1000.0:0.#} s{rest}");
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

    private static string FirstToken(string text)
    {
        var span = text.AsSpan().TrimStart();
        int end = 0;
        while (end < span.Length && !char.IsWhiteSpace(span[end])) end++;
        return span[..end].ToString();
    }

    private sealed record InputLine(string Text);

    private sealed record InputEnded;

    private sealed class Request(string line, string id)
    {
        public string Id { get; } = id;
        public byte[] Data { get; } = Encoding.UTF8.GetBytes(line);
        public long Ordinal { get; set; }
        public long FirstSentAt { get; set; }
        public long LastSentAt { get; set; }
    }
}
