using System.Globalization;
using System.Text;

namespace Lockstep.Host.Debugging;

/// <summary>
/// Answers GDB remote serial protocol packets on a <see cref="Timeline"/>: registers, memory,
/// breakpoints, watchpoints, stepping and continuing both ways. The history is read-only:
/// writes to registers or memory are refused (a changed state would no longer be the recorded
/// execution). An unknown packet gets the empty reply; a malformed one an error reply.
/// </summary>
public sealed class GdbStub(Timeline timeline, TextWriter log)
{
    /// <summary>The largest packet accepted and advertised (PacketSize); memory reads are capped to fit.</summary>
    public const int PacketSize = 16384;

    private readonly StopConditions _conditions = new();
    private string _lastStop = "T05";

    /// <summary>Set once the client killed the target or detached: the session is over.</summary>
    public bool Finished { get; private set; }

    /// <summary>Answers one packet; <paramref name="interrupted"/> is polled while the target runs.</summary>
    public string Handle(string packet, Func<bool> interrupted)
    {
        try
        {
            return Dispatch(packet, interrupted);
        }
        catch (FormatException)
        {
            return "E02";
        }
        catch (OverflowException)
        {
            return "E02";
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or Lockstep.Engine.Recording.DivergenceException)
        {
            log.WriteLine($"gdb: {packet.Split(':', ',')[0]}: {e.Message}");
            return "E03";
        }
    }

    private string Dispatch(string packet, Func<bool> interrupted)
    {
        if (packet.Length == 0) return "";
        switch (packet[0])
        {
            case '?': return _lastStop;
            case 'g': return ReadAllRegisters();
            case 'p': return ReadRegister(Hex(packet[1..]));
            case 'G' or 'P' or 'M' or 'X': return "E01"; // the recorded history cannot be changed
            case 'm': return ReadMemory(packet[1..]);
            case 'Z': return SetPoint(packet[1..], insert: true);
            case 'z': return SetPoint(packet[1..], insert: false);
            case 's': return Stop(timeline.Step(_conditions));
            case 'c': return Stop(timeline.Continue(_conditions, interrupted));
            case 'H' or 'T': return "OK";
            case 'k':
                Finished = true;
                return "OK";
            case 'D':
                Finished = true;
                return "OK";
        }
        if (packet == "bs") return timeline.CanRewind ? Stop(timeline.ReverseStep()) : "E01";
        if (packet == "bc") return timeline.CanRewind ? Stop(timeline.ReverseContinue(_conditions, interrupted)) : "E01";
        if (packet.StartsWith("qSupported", StringComparison.Ordinal))
            return $"PacketSize={PacketSize:x};qXfer:features:read+" + (timeline.CanRewind ? ";ReverseStep+;ReverseContinue+" : "");
        if (packet.StartsWith("qXfer:features:read:", StringComparison.Ordinal)) return ReadFeatures(packet["qXfer:features:read:".Length..]);
        if (packet == "vCont?") return "vCont;c;C;s;S";
        if (packet.StartsWith("vCont;", StringComparison.Ordinal)) return Resume(packet["vCont;".Length..], interrupted);
        if (packet.StartsWith("qRcmd,", StringComparison.Ordinal)) return Monitor(packet["qRcmd,".Length..]);
        return packet switch
        {
            "qC" => "QC1",
            "qfThreadInfo" => "m1",
            "qsThreadInfo" => "l",
            "qAttached" => "1",
            "qSymbol::" => "OK",
            _ => "",
        };
    }

    /// <summary>All threads do the same (there is one hart): the first action decides.</summary>
    private string Resume(string actions, Func<bool> interrupted)
    {
        char action = actions.Length > 0 ? actions[0] : ' ';
        return action switch
        {
            's' or 'S' => Stop(timeline.Step(_conditions)),
            'c' or 'C' => Stop(timeline.Continue(_conditions, interrupted)),
            _ => "E01",
        };
    }

    private string Stop(StopEvent stop)
    {
        var machine = timeline.Machine;
        _lastStop = stop.Kind switch
        {
            StopKind.Watchpoint => $"T05{WatchName(stop.Watch!.Kind)}:{stop.AccessAddress:x};",
            StopKind.HistoryEnd => "T05replaylog:end;",
            StopKind.HistoryBegin => "T05replaylog:begin;",
            StopKind.Interrupted => "T02",
            StopKind.Exited when machine.Fault is not null => "T0b",
            StopKind.Exited => $"W{machine.ExitCode & 0xFF:x2}",
            _ => "T05",
        };
        if (stop.Kind == StopKind.HistoryEnd && machine.Fault is { } fault) log.WriteLine($"gdb: the recording ends in a guest fault: {fault}");
        return _lastStop;
    }

    private static string WatchName(WatchKind kind) => kind switch
    {
        WatchKind.Write => "watch",
        WatchKind.Read => "rwatch",
        _ => "awatch",
    };

    private string ReadAllRegisters()
    {
        var machine = timeline.Machine;
        var reply = new StringBuilder(33 * 8);
        for (int r = 0; r < 32; r++) AppendWord(reply, machine[r]);
        AppendWord(reply, machine.Pc);
        return reply.ToString();
    }

    private string ReadRegister(uint number)
    {
        var machine = timeline.Machine;
        var reply = new StringBuilder(8);
        if (number < 32) AppendWord(reply, machine[(int)number]);
        else if (number == TargetDescription.PcRegister) AppendWord(reply, machine.Pc);
        else if (number >= TargetDescription.CsrBase && Array.IndexOf(ControlRegisters.Described, number - TargetDescription.CsrBase) >= 0)
            AppendWord(reply, ControlRegisters.Read(machine, number - TargetDescription.CsrBase));
        else return "E01";
        return reply.ToString();
    }

    private string ReadMemory(string arguments)
    {
        var (address, length) = AddressAndLength(arguments);
        if (length > (PacketSize - 4) / 2) length = (PacketSize - 4) / 2;
        var bytes = new byte[length];
        return timeline.TryReadMemory(address, bytes) ? Convert.ToHexStringLower(bytes) : "E01";
    }

    /// <summary>Z/z type,addr,kind: 0 and 1 are breakpoints (a history has no code to patch, so both work alike), 2–4 watchpoints.</summary>
    private string SetPoint(string arguments, bool insert)
    {
        int comma = arguments.IndexOf(',');
        if (comma != 1) return "E02";
        char type = arguments[0];
        string rest = arguments[2..];
        int semicolon = rest.IndexOf(';'); // conditions and commands are not supported; the point itself still is
        if (semicolon >= 0) rest = rest[..semicolon];
        var (address, length) = AddressAndLength(rest);
        switch (type)
        {
            case '0' or '1':
                if (insert) _conditions.Breakpoints.Add(address);
                else _conditions.Breakpoints.Remove(address);
                return "OK";
            case '2' or '3' or '4':
                if (length == 0) return "E02";
                var watch = new Watch(address, length, type switch { '2' => WatchKind.Write, '3' => WatchKind.Read, _ => WatchKind.Access });
                if (insert) _conditions.Watches.Add(watch);
                else _conditions.Watches.Remove(watch);
                return "OK";
            default:
                return "";
        }
    }

    private string ReadFeatures(string arguments)
    {
        int colon = arguments.IndexOf(':');
        if (colon < 0) return "E02";
        if (arguments[..colon] != "target.xml") return "E00";
        var (offset, length) = AddressAndLength(arguments[(colon + 1)..]);
        string xml = TargetDescription.Xml;
        if (offset >= xml.Length) return "l";
        int count = (int)Math.Min(length, Math.Min((uint)(PacketSize - 1), (uint)(xml.Length - (int)offset)));
        string part = xml.Substring((int)offset, count);
        return ((int)offset + count >= xml.Length ? "l" : "m") + part;
    }

    /// <summary>Commands of our own through `monitor`: where in the history the target is.</summary>
    private string Monitor(string hexCommand)
    {
        string command = Encoding.UTF8.GetString(Convert.FromHexString(hexCommand)).Trim();
        var machine = timeline.Machine;
        string output = command switch
        {
            "position" => $"position {timeline.Position} pc 0x{machine.Pc:x8}\n",
            "checkpoints" => $"{timeline.CheckpointCount} checkpoints, every {timeline.CheckpointInterval} instructions, {timeline.CheckpointBytes} bytes\n",
            _ => $"unknown monitor command '{command}'; known: position, checkpoints\n",
        };
        return Convert.ToHexStringLower(Encoding.UTF8.GetBytes(output));
    }

    private static (uint Address, uint Length) AddressAndLength(string arguments)
    {
        int comma = arguments.IndexOf(',');
        if (comma < 0) throw new FormatException("address,length expected");
        return (Hex(arguments[..comma]), Hex(arguments[(comma + 1)..]));
    }

    private static uint Hex(string text) => uint.Parse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    private static void AppendWord(StringBuilder reply, uint value)
    {
        for (int i = 0; i < 4; i++) reply.Append(((value >> (8 * i)) & 0xFF).ToString("x2"));
    }
}
