using System.CommandLine;
using Lockstep.Host.Cli;

var root = new RootCommand("Lockstep: fault-tolerant virtual machines on an Akka.NET cluster")
{
    LocalCommands.Run(),
    LocalCommands.Record(),
    LocalCommands.Replay(),
    NodeCommand.Create(),
    Lockstep.Host.Cli.Certificates.CertCommand.Create(),
    Lockstep.Host.Bench.BenchCommand.Create(),
    VmCommands.Create(),
    Lockstep.Host.Demo.DemoCommand.Create(),
};
return root.Parse(args).Invoke();
