namespace Lockstep.Harness;

/// <summary>What an output of the VM was to a <see cref="KvSession"/>.</summary>
public enum KvReceiptKind
{
    /// <summary>The answer to an outstanding request, now answered.</summary>
    Answer,

    /// <summary>Seen before: an output a new primary released again, or the answer to a copy of a request already answered.</summary>
    Repeat,

    /// <summary>Not the answer to any request of the session.</summary>
    Unsolicited,
}

/// <param name="Request">For <see cref="KvReceiptKind.Answer"/>, the request it answers.</param>
public sealed record KvReceipt(KvReceiptKind Kind, KvRequest? Request = null);
