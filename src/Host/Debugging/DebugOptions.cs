using System.Globalization;
using System.Net;
using Lockstep.Host.Cli;

namespace Lockstep.Host.Debugging;

/// <summary>Parsing of the debugger's command-line values, each failure one clear usage error.</summary>
public static class DebugOptions
{
    public static IPEndPoint Endpoint(string text)
    {
        if (!IPEndPoint.TryParse(text, out var endpoint) || !text.Contains(':'))
            throw new UsageException($"--gdb {text}: expected HOST:PORT with a numeric address, e.g. 127.0.0.1:1234");
        return endpoint;
    }

    /// <summary>A guest address: hexadecimal with 0x, or decimal.</summary>
    public static uint Address(string text, string option)
    {
        string t = text.Trim();
        bool ok = t.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? uint.TryParse(t[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint value)
            : uint.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        return ok ? value : throw new UsageException($"{option} {text}: not an address (e.g. 0x80001234)");
    }
}
