using System.Text;
using Lockstep.Engine.Cpu;

namespace Lockstep.Host.Cli;

/// <summary>Writes guest outputs for a local run: console bytes as they are, packets as one line each.</summary>
public sealed class OutputPrinter(Stream stdout)
{
    public void Write(MachineOutput output)
    {
        if (output.Kind == OutputKind.Console)
        {
            stdout.Write(output.Data);
            if (output.Data.Contains((byte)'\n')) stdout.Flush();
            return;
        }
        string text = Encoding.UTF8.GetString(output.Data).TrimEnd('\n');
        stdout.Write(Encoding.UTF8.GetBytes($"[packet to peer {output.Peer}] {text}\n"));
        stdout.Flush();
    }
}
