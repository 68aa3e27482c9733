namespace Lockstep.Harness.Tests;

/// <summary>
/// The client side of the kv protocol that `vm send` and the demo share: the window, resends and expiry,
/// which output answers which request, and the (session, ordinal, answered-below) tags the primary relies on
/// to drop late copies of answered requests.
/// </summary>
public sealed class KvSessionTests
{
    private const long Retry = 100;
    private const long Timeout = 1000;

    [Fact]
    public void One_at_a_time_the_mark_is_the_request_itself()
    {
        var session = new KvSession(window: 1, Retry, Timeout);
        var first = session.TryStart("1 INCR c", nowMs: 0)!.Value;
        Assert.Equal(new KvTag(session.Session, 0, 0), first.Tag);
        Assert.Equal("1", first.Request.Id);
        Assert.Null(session.TryStart("2 INCR c", nowMs: 0));

        Assert.Equal(KvReceiptKind.Answer, session.Receive(10, "1 1").Kind);
        var second = session.TryStart("2 INCR c", nowMs: 5)!.Value;
        Assert.Equal(new KvTag(session.Session, 1, 1), second.Tag);
    }

    [Fact]
    public void With_a_window_the_mark_is_the_oldest_unanswered_request()
    {
        var session = new KvSession(window: 3, Retry, Timeout);
        var tags = new[] { "a1 INCR c", "a2 INCR c", "a3 INCR c" }.Select(line => session.TryStart(line, 0)!.Value.Tag).ToList();
        Assert.Equal([0L, 1, 2], tags.Select(t => t.Ordinal));
        Assert.All(tags, t => Assert.Equal(0, t.AnsweredBelow));
        Assert.Null(session.TryStart("a4 INCR c", 0));

        // a2 answered: a1 still holds the mark down.
        Assert.Equal(KvReceiptKind.Answer, session.Receive(1, "a2 2").Kind);
        var resent = session.DueForResend(Retry);
        Assert.Equal(["a1", "a3"], resent.Select(r => r.Request.Id));
        Assert.All(resent, r => Assert.Equal(0, r.Tag.AnsweredBelow));

        // a1 answered: everything below a3 is.
        Assert.Equal(KvReceiptKind.Answer, session.Receive(2, "a1 1").Kind);
        var again = Assert.Single(session.DueForResend(2 * Retry));
        Assert.Equal(new KvTag(session.Session, 2, 2), again.Tag);
        Assert.Equal(3, again.Request.Sends);
    }

    [Fact]
    public void A_second_request_with_an_id_in_flight_waits()
    {
        var session = new KvSession(window: 4, Retry, Timeout);
        Assert.NotNull(session.TryStart("7 PUT k v", 0));
        Assert.Null(session.TryStart("7 GET k", 0));
        session.Receive(1, "7 OK");
        Assert.NotNull(session.TryStart("7 GET k", 0));
    }

    [Fact]
    public void Resends_come_every_retry_interval_and_requests_expire_after_the_timeout()
    {
        var session = new KvSession(window: 2, Retry, Timeout);
        Assert.Null(session.NextDueInMs(0));
        session.TryStart("1 INCR c", 0);
        session.TryStart("2 INCR c", 40);
        Assert.Equal(Retry, session.NextDueInMs(0));
        Assert.Empty(session.DueForResend(Retry - 1));
        Assert.Equal(["1"], session.DueForResend(Retry).Select(r => r.Request.Id));
        Assert.Equal(40, session.NextDueInMs(Retry)); // request 2, first sent at 40
        Assert.Equal(0, session.NextDueInMs(10 * Timeout));

        Assert.Empty(session.Expired(Timeout - 1));
        Assert.Equal(["1"], session.Expired(Timeout).Select(r => r.Id));
        Assert.Equal(["1", "2"], session.Expired(Timeout + 40).Select(r => r.Id));
    }

    [Fact]
    public void Repeated_outputs_and_late_answers_are_repeats_and_strangers_are_unsolicited()
    {
        var session = new KvSession(window: 2, Retry, Timeout);
        session.TryStart("1 INCR c", 0);
        session.TryStart("2 INCR c", 0);

        var answer = session.Receive(5, "1 1");
        Assert.Equal(KvReceiptKind.Answer, answer.Kind);
        Assert.Equal("1", answer.Request!.Id);
        // The same output released again by a new primary.
        Assert.Equal(KvReceiptKind.Repeat, session.Receive(5, "1 1").Kind);
        // The answer to a copy of request 1 sent again before its first answer arrived.
        Assert.Equal(KvReceiptKind.Repeat, session.Receive(6, "1 1").Kind);
        Assert.Equal(KvReceiptKind.Unsolicited, session.Receive(7, "99 NOTFOUND").Kind);
        Assert.Equal(["2"], session.Outstanding.Select(r => r.Id));
    }

    [Fact]
    public void An_answer_without_a_readable_id_answers_the_oldest_request()
    {
        var session = new KvSession(window: 2, Retry, Timeout);
        session.TryStart("1 INCR c", 0);
        session.TryStart("2 INCR c", 0);
        var answer = session.Receive(1, "- ERR bad request");
        Assert.Equal(KvReceiptKind.Answer, answer.Kind);
        Assert.Equal("1", answer.Request!.Id);
    }

    [Fact]
    public void An_abandoned_request_frees_the_window_and_its_late_answer_is_unsolicited()
    {
        var session = new KvSession(window: 1, Retry, Timeout);
        var lost = session.TryStart("1 INCR c", 0)!.Value.Request;
        session.Abandon(lost);
        var next = session.TryStart("2 INCR c", Timeout)!.Value;
        Assert.Equal(new KvTag(session.Session, 1, 1), next.Tag);
        Assert.Equal(KvReceiptKind.Unsolicited, session.Receive(3, "1 1").Kind);
    }

    [Fact]
    public void Leading_blanks_do_not_change_the_id_and_sessions_differ()
    {
        var one = new KvSession(window: 1, Retry, Timeout);
        Assert.Equal("42", one.TryStart("  42\tGET k", 0)!.Value.Request.Id);
        Assert.NotEqual(one.Session, new KvSession(window: 1, Retry, Timeout).Session);
    }
}
