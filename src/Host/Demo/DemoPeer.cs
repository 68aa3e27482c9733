using System.Globalization;
using System.Threading.Channels;
using Lockstep.Harness;

namespace Lockstep.Host.Demo;

/// <summary>
/// One logical client of the kv VM: a client number (a socket of its own, so a guest peer of its own) and a
/// <see cref="KvSession"/> of its own, one request at a time. A request unanswered for a while is sent again with
/// the same id to the next node, which kv answers from memory instead of executing it twice, so a failover costs
/// this client time but never a lost or doubled operation.
/// </summary>
public sealed class DemoPeer
{
    private readonly IDemoTransport _transport;
    private readonly DemoClock _clock;
    private readonly ChannelReader<(ulong? Seq, string Text)> _answers;
    private readonly KvSession _session;
    private readonly RequestPacer? _pacer;
    private long _nextId;
    private int _paced;

    public DemoPeer(uint peer, IDemoTransport transport, DemoClock clock, TimeSpan giveUp)
    {
        Peer = peer;
        _transport = transport;
        _clock = clock;
        // One request at a time: every earlier one is answered (or given up), so late copies of them can be dropped.
        _session = new KvSession(window: 1, (long)transport.Retry.TotalMilliseconds, (long)giveUp.TotalMilliseconds);
        _pacer = transport.NeedsPacing ? new RequestPacer() : null;
        _answers = transport.Register(peer);
    }

    public uint Peer { get; }

    /// <summary>Requests this client held back to keep within <see cref="RequestPacer"/>'s limit.</summary>
    public int PacedRequests => Volatile.Read(ref _paced);

    /// <summary>Sends "&lt;new id&gt; <paramref name="command"/>" until answered; null when no answer came within the give-up time.</summary>
    public async Task<DemoAnswer?> CallAsync(string command, CancellationToken cancel)
    {
        double heldMs = 0;
        if (_pacer?.WaitMs(Now()) is > 0 and var wait)
        {
            Interlocked.Increment(ref _paced);
            double heldFrom = _clock.NowMs;
            await Task.Delay(TimeSpan.FromMilliseconds(wait), cancel);
            heldMs = _clock.NowMs - heldFrom;
        }
        _pacer?.Started(Now());
        string id = (++_nextId).ToString(CultureInfo.InvariantCulture);
        double startMs = _clock.NowMs;
        var (request, tag) = _session.TryStart($"{id} {command}", Now())
            ?? throw new InvalidOperationException("a DemoPeer runs one request at a time");
        _transport.Send(Peer, request, tag, resend: false);
        while (_session.Expired(Now()).Count == 0)
        {
            if (await NextAnswerAsync(_session.NextDueInMs(Now()) ?? 0, cancel) is { } answer)
            {
                // Anything else is a late copy of an earlier answer, already counted.
                var (seq, text) = answer;
                var receipt = seq is { } number ? _session.Receive(number, text) : _session.Receive(text);
                if (receipt is not { Kind: KvReceiptKind.Answer }) continue;
                int space = text.IndexOf(' ');
                string body = space < 0 ? "" : text[(space + 1)..];
                return new DemoAnswer(Peer, id, command, body, startMs, _clock.NowMs, request.Sends, heldMs);
            }
            foreach (var (again, againTag) in _session.DueForResend(Now()))
            {
                _transport.Send(Peer, again, againTag, resend: true);
                _pacer?.Resent(Now());
            }
        }
        _session.Abandon(request);
        return null;
    }

    private long Now() => (long)_clock.NowMs;

    private async Task<(ulong? Seq, string Text)?> NextAnswerAsync(long waitMs, CancellationToken cancel)
    {
        if (_answers.TryRead(out var ready)) return ready;
        if (waitMs <= 0) return null;
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timer.CancelAfter(TimeSpan.FromMilliseconds(waitMs));
        try
        {
            if (!await _answers.WaitToReadAsync(timer.Token)) return null;
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return null;
        }
        return _answers.TryRead(out var answer) ? answer : null;
    }
}
