using System.Security.Cryptography;

namespace Lockstep.Replication.Channel;

/// <summary>
/// The one-time secret a secondary hands out (over Akka, to the primary it was started for) and
/// expects in the first frame of the connection: whoever else connects first cannot feed it state.
/// </summary>
public sealed class AttachToken
{
    public const int Length = 32;

    private AttachToken(byte[] bytes) => Bytes = bytes;

    public byte[] Bytes { get; }

    public static AttachToken New() => new(RandomNumberGenerator.GetBytes(Length));

    /// <summary>A token received from the secondary, to present to it.</summary>
    public static AttachToken Of(byte[] bytes) =>
        bytes.Length == Length ? new(bytes) : throw new ArgumentException($"an attach token has {Length} bytes, not {bytes.Length}", nameof(bytes));

    /// <summary>Constant time, so the comparison leaks nothing about how much of a guess was right.</summary>
    public bool Matches(ReadOnlySpan<byte> presented) => presented.Length == Length && CryptographicOperations.FixedTimeEquals(presented, Bytes);
}
