namespace Lockstep.Harness;

/// <summary>
/// The client side of the kv guest's request protocol, with the transport left to the caller: a request is a
/// line whose first word is its id, and the guest's answer starts with that id. Up to <c>window</c> requests
/// are in flight; each is sent again every <c>retryMs</c> until its answer comes (kv answers a repeated id from
/// memory instead of executing it twice), and counts as lost after <c>timeoutMs</c>. Every copy carries a
/// <see cref="KvTag"/>, so that late copies of answered requests can be dropped before they reach the guest.
/// Times are milliseconds on a monotonic clock of the caller's. Not thread-safe: one caller drives it.
/// </summary>
public sealed class KvSession(int window, long retryMs, long timeoutMs)
{
    private readonly List<KvRequest> _outstanding = [];
    private readonly HashSet<string> _answered = [];
    private readonly HashSet<ulong> _seenOutputs = [];
    private long _nextOrdinal;

    /// <summary>Random, so that sessions of different clients (and of one client run twice) differ.</summary>
    public long Session { get; } = Random.Shared.NextInt64();

    /// <summary>The requests sent and not yet answered, oldest first.</summary>
    public IReadOnlyList<KvRequest> Outstanding => _outstanding;

    /// <summary>
    /// Starts <paramref name="line"/> when the window has room and no request with the same id is in flight
    /// (two could not be told apart by their answers); returns the tag to send it with now, or null.
    /// </summary>
    public (KvRequest Request, KvTag Tag)? TryStart(string line, long nowMs)
    {
        if (_outstanding.Count >= window) return null;
        string id = FirstWord(line);
        if (_outstanding.Exists(r => r.Id == id)) return null;
        var request = new KvRequest(line, id, _nextOrdinal++, nowMs);
        _outstanding.Add(request);
        return (request, Sent(request, nowMs));
    }

    /// <summary>The requests unanswered for <c>retryMs</c> since their last copy, each with the tag to send it again with now.</summary>
    public IReadOnlyList<(KvRequest Request, KvTag Tag)> DueForResend(long nowMs) =>
        _outstanding.Where(r => nowMs - r.LastSentAtMs >= retryMs).ToList().Select(r => (r, Sent(r, nowMs))).ToList();

    /// <summary>The requests unanswered for <c>timeoutMs</c> since their first copy.</summary>
    public IReadOnlyList<KvRequest> Expired(long nowMs) => _outstanding.Where(r => nowMs - r.FirstSentAtMs >= timeoutMs).ToList();

    /// <summary>Milliseconds until a resend or an expiry is due (0 when one is due now); null when nothing is outstanding.</summary>
    public long? NextDueInMs(long nowMs) =>
        _outstanding.Count == 0 ? null : Math.Max(0, _outstanding.Min(r => Math.Min(r.LastSentAtMs + retryMs, r.FirstSentAtMs + timeoutMs)) - nowMs);

    /// <summary>Stops waiting for <paramref name="request"/>; its late answer will count as unsolicited.</summary>
    public void Abandon(KvRequest request) => _outstanding.Remove(request);

    /// <summary>Matches an output of the VM for this client, <paramref name="seq"/> its output sequence number, <paramref name="text"/> without its line end.</summary>
    public KvReceipt Receive(ulong seq, string text)
    {
        // A new primary may release again what the old one already released; the sequence number identifies the output.
        if (!_seenOutputs.Add(seq)) return new KvReceipt(KvReceiptKind.Repeat);
        return Receive(text);
    }

    /// <summary>
    /// Matches an answer that carries no output sequence number (a datagram from a front door, which drops a new
    /// primary's repeated outputs itself), by its request id alone; <paramref name="text"/> without its line end.
    /// </summary>
    public KvReceipt Receive(string text)
    {
        string id = FirstWord(text);
        // kv answers "-" when it could not read the id; with nothing better to go by, it answers the oldest request.
        var request = _outstanding.Find(r => r.Id == id) ?? (id == "-" ? _outstanding.FirstOrDefault() : null);
        if (request is not null)
        {
            _outstanding.Remove(request);
            _answered.Add(request.Id);
            return new KvReceipt(KvReceiptKind.Answer, request);
        }
        // The answer to a copy sent again after the original was already answered.
        return new KvReceipt(_answered.Contains(id) ? KvReceiptKind.Repeat : KvReceiptKind.Unsolicited);
    }

    private KvTag Sent(KvRequest request, long nowMs)
    {
        request.LastSentAtMs = nowMs;
        request.Sends++;
        // Everything below the oldest outstanding request is answered: copies of those still in flight can be dropped.
        long answeredBelow = _outstanding.Count == 0 ? _nextOrdinal : _outstanding.Min(r => r.Ordinal);
        return new KvTag(Session, request.Ordinal, answeredBelow);
    }

    private static string FirstWord(string text)
    {
        var span = text.AsSpan().TrimStart();
        int end = 0;
        while (end < span.Length && !char.IsWhiteSpace(span[end])) end++;
        return span[..end].ToString();
    }
}
