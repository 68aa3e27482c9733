using System.Globalization;
using System.Threading.Channels;
using Lockstep.Actors.Protocol;

namespace Lockstep.Host.Demo;

/// <summary>
/// One logical client of the kv VM: a peer number and its own request ids, one request at a time. A request
/// unanswered for a while is sent again with the same id, which kv answers from memory instead of executing
/// it twice, so a failover costs this client time but never a lost or doubled operation.
/// </summary>
public sealed class DemoPeer
{
    private readonly DemoTransport _transport;
    private readonly DemoClock _clock;
    private readonly ChannelReader<string> _answers;
    private readonly TimeSpan _retry;
    private readonly TimeSpan _giveUp;
    private readonly long _session = Random.Shared.NextInt64();
    private long _nextId;

    public DemoPeer(uint peer, DemoTransport transport, DemoClock clock, TimeSpan retry, TimeSpan giveUp)
    {
        Peer = peer;
        _transport = transport;
        _clock = clock;
        _retry = retry;
        _giveUp = giveUp;
        _answers = transport.Register(peer);
    }

    public uint Peer { get; }

    /// <summary>Sends "&lt;new id&gt; <paramref name="command"/>" until answered; null when no answer came within the give-up time.</summary>
    public async Task<DemoAnswer?> CallAsync(string command, CancellationToken cancel)
    {
        long ordinal = ++_nextId;
        string id = ordinal.ToString(CultureInfo.InvariantCulture);
        // One request at a time: every earlier one is answered, so late copies of them can be dropped.
        var tag = new DeliveryTag(_session, ordinal, AnsweredBelow: ordinal);
        string text = $"{id} {command}";
        double startMs = _clock.NowMs;
        double giveUpAt = startMs + _giveUp.TotalMilliseconds;
        int sends = 0;
        while (_clock.NowMs < giveUpAt)
        {
            _transport.Send(Peer, text, tag);
            sends++;
            double resendAt = Math.Min(_clock.NowMs + _retry.TotalMilliseconds, giveUpAt);
            while (await NextAnswerAsync(resendAt - _clock.NowMs, cancel) is { } answer)
            {
                int space = answer.IndexOf(' ');
                string answerId = space < 0 ? answer : answer[..space];
                // Anything else is a late copy of an earlier answer, already counted.
                if (answerId != id) continue;
                string body = space < 0 ? "" : answer[(space + 1)..];
                return new DemoAnswer(Peer, id, command, body, startMs, _clock.NowMs, sends);
            }
        }
        return null;
    }

    private async Task<string?> NextAnswerAsync(double waitMs, CancellationToken cancel)
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
