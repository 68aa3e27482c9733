namespace Lockstep.Harness.Fuzzing;

/// <summary>A case whose input made a decoder misbehave; the message carries the seed that makes the input again.</summary>
public sealed class FuzzFailure(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Runs a decoder on thousands of generated inputs. Case <c>i</c> of a run uses the seed <c>base + i</c>:
/// <c>LOCKSTEP_FUZZ_SEED</c> sets the base (default fixed, so CI is repeatable) and <c>LOCKSTEP_FUZZ_CASES</c>
/// the number of cases; a failure names the case's seed, and <c>LOCKSTEP_FUZZ_SEED=that LOCKSTEP_FUZZ_CASES=1</c> replays it alone.
/// A case fails when the decoder throws anything but the exceptions it documents, or allocates more than the
/// input's bounds allow (an allocation sized by a length read from the input).
/// </summary>
public static class FuzzRun
{
    public const int DefaultSeed = 15_0002;

    public static int BaseSeed => int.TryParse(Environment.GetEnvironmentVariable("LOCKSTEP_FUZZ_SEED"), out int seed) ? seed : DefaultSeed;

    /// <summary>The cases to run: <paramref name="normal"/> unless LOCKSTEP_FUZZ_CASES says otherwise.</summary>
    public static int Cases(int normal) =>
        int.TryParse(Environment.GetEnvironmentVariable("LOCKSTEP_FUZZ_CASES"), out int cases) && cases > 0 ? cases : normal;

    /// <summary>What a run saw: how the inputs ended (by exception type, or "accepted"), to show that the cases reached the decoder.</summary>
    public sealed record Outcome(IReadOnlyDictionary<string, int> Endings, long MostAllocated)
    {
        public int Accepted => Endings.GetValueOrDefault("accepted");
        public int Refused => Endings.Where(e => e.Key != "accepted").Sum(e => e.Value);
    }

    /// <param name="name">The decoder, for messages.</param>
    /// <param name="input">Makes case's input from its own random source.</param>
    /// <param name="decode">Decodes it; returns normally when the input was accepted or handled.</param>
    /// <param name="refusals">The exception types that are the decoder's clear errors.</param>
    /// <param name="allocationBound">The most the decoder may allocate for an input of the given length.</param>
    public static Outcome Run(string name, int cases, Func<Random, byte[]> input, Action<byte[]> decode,
        Type[] refusals, Func<int, long> allocationBound)
    {
        var endings = new Dictionary<string, int>();
        long most = 0;
        int first = BaseSeed;
        for (int i = 0; i < cases; i++)
        {
            int seed = first + i;
            byte[] bytes = input(new Random(seed));
            string ending = "accepted";
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                decode(bytes);
            }
            catch (Exception e) when (refusals.Any(t => t.IsInstanceOfType(e)))
            {
                ending = e.GetType().Name;
            }
            catch (Exception e)
            {
                throw new FuzzFailure($"{name}: case seed {seed} ({bytes.Length} bytes) threw {e.GetType().Name}: {e.Message} "
                    + $"(replay: LOCKSTEP_FUZZ_SEED={seed} LOCKSTEP_FUZZ_CASES=1)", e);
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated > allocationBound(bytes.Length))
                throw new FuzzFailure($"{name}: case seed {seed} ({bytes.Length} bytes) allocated {allocated} bytes, more than the {allocationBound(bytes.Length)} allowed "
                    + $"(replay: LOCKSTEP_FUZZ_SEED={seed} LOCKSTEP_FUZZ_CASES=1)");
            most = Math.Max(most, allocated);
            endings[ending] = endings.GetValueOrDefault(ending) + 1;
        }
        return new Outcome(endings, most);
    }
}
