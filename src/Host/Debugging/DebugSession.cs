using System.Net;
using System.Net.Sockets;
using Lockstep.Host.Cli;

namespace Lockstep.Host.Debugging;

/// <summary>The CLI's debugger modes: a gdb server on a timeline, and the --watch report.</summary>
public static class DebugSession
{
    public static int ServeGdb(Timeline timeline, IPEndPoint endpoint, string imagePath)
    {
        GdbServer server;
        try
        {
            server = new GdbServer(endpoint);
        }
        catch (SocketException e)
        {
            throw new UsageException($"--gdb {endpoint}: cannot listen there: {e.Message}");
        }
        using (server)
        {
            string history = timeline.CanRewind ? "replaying the recording, reverse execution available" : "live run, forwards only";
            Console.Error.WriteLine($"gdb: listening on {server.Endpoint} ({history})");
            Console.Error.WriteLine($"gdb: connect with: gdb-multiarch -ex 'set architecture riscv:rv32' -ex 'target remote {server.Endpoint}' {imagePath}");
            server.ServeOne(timeline, Console.Error);
        }
        return ExitCodes.Success;
    }

    /// <summary>Prints every change of the 32-bit word at <paramref name="address"/>: the instruction count just after it, the writer's pc, old and new value.</summary>
    public static void PrintWordChanges(Timeline timeline, uint address, TextWriter output)
    {
        var probe = new byte[4];
        if (!timeline.TryReadMemory(address, probe)) throw new UsageException($"--watch 0x{address:x8}: not a word of guest RAM");
        output.WriteLine($"watching the word at 0x{address:x8}: initial value 0x{BitConverter.ToUInt32(probe):x8}");
        int changes = 0;
        while (timeline.NextChange(address, 4) is { } change)
        {
            changes++;
            output.WriteLine($"instruction {change.Position} pc 0x{change.Pc:x8}: 0x{BitConverter.ToUInt32(change.Before):x8} -> 0x{BitConverter.ToUInt32(change.After):x8}");
        }
        output.WriteLine($"{changes} changes up to instruction {timeline.Position}");
        output.Flush();
    }
}
