using System.Globalization;

namespace Lockstep.Host.Cli;

/// <summary>Parses memory sizes such as 16M, 64MiB, 512K or 1048576.</summary>
public static class SizeParser
{
    public static bool TryParse(string text, out uint bytes, out string error)
    {
        bytes = 0;
        error = "";
        string t = text.Trim().ToUpperInvariant();
        if (t.EndsWith("IB")) t = t[..^2];
        else if (t.EndsWith('B')) t = t[..^1];
        ulong unit = 1;
        if (t.EndsWith('K')) unit = 1UL << 10;
        else if (t.EndsWith('M')) unit = 1UL << 20;
        else if (t.EndsWith('G')) unit = 1UL << 30;
        if (unit != 1) t = t[..^1];
        if (!ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out ulong n) || n == 0)
        {
            error = $"'{text}' is not a memory size (try 16M)";
            return false;
        }
        ulong total = n * unit;
        if (total % 4096 != 0 || total > 1UL << 30)
        {
            error = $"memory size {text} must be a multiple of 4 KiB and at most 1 GiB";
            return false;
        }
        bytes = (uint)total;
        return true;
    }
}
