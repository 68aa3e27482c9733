namespace Lockstep.Harness.Fuzzing;

/// <summary>
/// Spoils valid bytes the ways storage, networks and attackers do: flipped bits, bytes set to values
/// that sit at the edges of integer ranges, lengths overwritten, ranges cut, repeated or inserted, the
/// whole cut short. Deterministic for a given <see cref="Random"/>, so a failing case is reproduced by its seed.
/// </summary>
public static class Mutator
{
    private static readonly int[] EdgeValues = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, int.MaxValue, int.MinValue, 0x1000, 0x10000, 0x7FFF_FFF0];

    /// <summary>One to four mutations of a copy of <paramref name="original"/>.</summary>
    public static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = new List<byte>(original);
        int rounds = 1 + random.Next(4);
        for (int i = 0; i < rounds; i++) MutateOnce(bytes, random);
        return bytes.ToArray();
    }

    private static void MutateOnce(List<byte> bytes, Random random)
    {
        int at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
        switch (random.Next(bytes.Count == 0 ? 1 : 8))
        {
            case 0: // insert a few random bytes
                var inserted = new byte[1 + random.Next(16)];
                random.NextBytes(inserted);
                bytes.InsertRange(at, inserted);
                break;
            case 1:
                bytes[at] ^= (byte)(1 << random.Next(8));
                break;
            case 2:
                bytes[at] = (byte)random.Next(256);
                break;
            case 3: // a 32-bit edge value over whatever was there (a length, a count, an offset)
                var edge = BitConverter.GetBytes(EdgeValues[random.Next(EdgeValues.Length)]);
                for (int k = 0; k < 4 && at + k < bytes.Count; k++) bytes[at + k] = edge[k];
                break;
            case 4:
                bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + random.Next(64)));
                break;
            case 5: // cut short
                bytes.RemoveRange(at, bytes.Count - at);
                break;
            case 6: // a range repeated
                int length = Math.Min(bytes.Count - at, 1 + random.Next(64));
                bytes.InsertRange(at, bytes.GetRange(at, length));
                break;
            default: // a varint-style run of continuation bytes
                for (int k = 0; k < 1 + random.Next(12) && at + k < bytes.Count; k++) bytes[at + k] = (byte)(0x80 | random.Next(128));
                break;
        }
    }
}
