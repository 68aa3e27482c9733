using System.CommandLine;
using Lockstep.Actors.Gateway;
using Lockstep.Actors.Protocol;
using Lockstep.Engine.Devices;
using Lockstep.Engine.Loading;
using Lockstep.Replication.FrontDoor;
using Lockstep.Harness;
using Lockstep.Host.Cli.Client;

namespace Lockstep.Host.Cli;

/// <summary>`vm ...`: manage protected VMs of a running cluster from a separate process, through ClusterClient.</summary>
public static class VmCommands
{
    private static readonly Option<string> Contact = new("--contact")
    {
        Description = "cluster nodes to reach, HOST:PORT[,HOST:PORT...]; any live one serves",
        DefaultValueFactory = _ => ContactPoints.Default,
        Recursive = true,
    };

    private static readonly Option<double> ContactTimeout = new("--contact-timeout")
    {
        Description = "seconds to wait for the first cluster node to answer (a loaded machine, or a node busy creating many VMs, may need more)",
        DefaultValueFactory = _ => ControlClient.ReachTimeout.TotalSeconds,
        Recursive = true,
    };

    private static readonly Option<string?> TlsCert = TlsOptions.Certificate(recursive: true);

    private static readonly Option<string?> TlsCa = TlsOptions.Authority(recursive: true);

    private static readonly Argument<string> Name = new("NAME") { Description = "name of the VM" };

    /// <summary>Beyond the directory's own limit for a create: the trip to it and back.</summary>
    private static readonly TimeSpan AnswerSlack = TimeSpan.FromSeconds(30);

    public static Command Create() => new("vm", "Manage protected VMs on a running cluster")
    {
        Contact,
        ContactTimeout,
        TlsCert,
        TlsCa,
        CreateVm(),
        List(),
        Status(),
        Watch(),
        Send(),
        ConsoleOutput(),
        Expose(),
        Simple("failover", "Test failover: stop the primary as if its node had died", name => new TestFailover(name)),
        Simple("restart-secondary", "Restart the secondary (it catches up from the primary)", name => new RestartSecondary(name)),
        Simple("stop", "Stop the VM and forget it", name => new StopVm(name)),
        Simple("unprotect", "Turn fault tolerance off: the secondary is dismissed, the VM runs on alone", name => new SetProtection(name, ProtectionMode.Off)),
        Simple("protect", "Turn fault tolerance on: a new secondary is brought in from a live copy", name => new SetProtection(name, ProtectionMode.On)),
        Simple("suspend-protection", "Suspend protection: the secondary is dismissed, settings and history are kept", name => new SetProtection(name, ProtectionMode.Suspended)),
        Simple("resume-protection", "Resume protection: the secondary comes back, on its node when that is still live", name => new SetProtection(name, ProtectionMode.On)),
        Simple("pause", "Stop guest execution (inputs queue, up to a bound)", name => new PauseVm(name)),
        Simple("resume", "Continue guest execution", name => new ResumeVm(name)),
        Migrate(),
        Check(),
        ExportCommand.Create(Name, Connect, Guarded),
    };

    /// <summary>`vm migrate NAME --secondary NODE` / `--primary NODE`: move a replica while the VM serves (moving the primary is a planned switchover).</summary>
    private static Command Migrate()
    {
        var secondary = new Option<string>("--secondary") { Description = "node to move the secondary to, HOST:PORT as `vm status` shows nodes" };
        var primary = new Option<string>("--primary") { Description = "node to switch the primary over to (the secondary moves there first if it is elsewhere)" };
        var command = new Command("migrate", "Move the VM's secondary, or switch its primary over, to another node while it keeps serving") { Name, secondary, primary };
        command.SetAction(parse => Guarded(() =>
        {
            string name = parse.GetValue(Name)!;
            string? toSecondary = parse.GetValue(secondary), toPrimary = parse.GetValue(primary);
            if ((toSecondary is null) == (toPrimary is null)) throw new UsageException("vm migrate needs exactly one of --secondary NODE and --primary NODE");
            using var client = Connect(parse);
            IControlRequest request = toPrimary is not null ? new MigratePrimary(name, toPrimary) : new MigrateSecondary(name, toSecondary!);
            PrintOk(client.Ask<ControlOk>(request), $"migrate: {name}");
            return ExitCodes.Success;
        }));
        return command;
    }

    /// <summary>`vm check NAME`: primary and secondary hash their whole state at one instruction count.</summary>
    private static Command Check()
    {
        var command = new Command("check", "Compare the state hashes of primary and secondary (needs a running guest)") { Name };
        command.SetAction(parse => Guarded(() =>
        {
            string name = parse.GetValue(Name)!;
            using var client = Connect(parse);
            var check = client.Ask<ReplicaCheck>(new CheckReplicas(name), TimeSpan.FromSeconds(15));
            Console.WriteLine($"{name}: at instruction {check.Position:N0} primary 0x{check.PrimaryHash:x16}, secondary 0x{check.SecondaryHash:x16}: {(check.Match ? "replicas agree" : "REPLICAS DIFFER")}");
            return check.Match ? ExitCodes.Success : ExitCodes.ReplayMismatch;
        }));
        return command;
    }

    private static Command CreateVm()
    {
        var names = new Argument<string[]>("NAME") { Description = "names of the VMs to create (several are created concurrently)", Arity = ArgumentArity.OneOrMore };
        var image = new Option<string>("--image") { Description = "ELF32 RISC-V executable to boot", Required = true };
        var memory = new Option<string>("--memory") { Description = "guest RAM size, e.g. 16M", DefaultValueFactory = _ => "16M" };
        var expose = new Option<int[]>("--expose") { Description = "PORT every node listens on for this VM, UDP and TCP (repeatable; one VM only)" };
        var exposeFrom = new Option<int?>("--expose-from") { Description = "with several names: the i-th VM (from 0) is exposed on PORT+i of every node" };
        var durable = new Option<bool>("--durable")
        {
            Description = "an output leaves only once the secondary has acknowledged its log and the journal has committed it (survives losing both hosts)",
        };
        var command = new Command("create", "Create protected VMs (primary and secondary each) and start them") { names, image, memory, expose, exposeFrom, durable };
        command.SetAction(parse => Guarded(() =>
        {
            var wanted = parse.GetValue(names)!;
            string memoryText = parse.GetValue(memory)!;
            if (!SizeParser.TryParse(memoryText, out uint ram, out string error)) throw new UsageException(error);
            var ports = parse.GetValue(expose) ?? [];
            foreach (int port in ports) CheckPort(port);
            var from = parse.GetValue(exposeFrom);
            if (ports.Length > 0 && wanted.Length > 1) throw new UsageException("--expose names ports of one VM; with several names use --expose-from PORT");
            if (ports.Length > 0 && from is not null) throw new UsageException("use --expose or --expose-from, not both");
            if (from is { } first)
            {
                CheckPort(first);
                CheckPort(first + wanted.Length - 1);
            }
            byte[] bytes = ReadImage(parse.GetValue(image)!, ram);
            using var client = Connect(parse);
            if (wanted.Length == 1 && from is null)
            {
                PrintOk(client.Ask<ControlOk>(new CreateVm(wanted[0], bytes, ram, ports, parse.GetValue(durable)), CreateVms.AnswerWithin(1) + AnswerSlack), $"created {wanted[0]}");
                return ExitCodes.Success;
            }
            // The directory answers within its limit for the batch (reporting what is not confirmed by then); a little more for the trip.
            var created = client.Ask<VmsCreated>(new CreateVms(wanted, bytes, ram, from, parse.GetValue(durable)), CreateVms.AnswerWithin(wanted.Length) + AnswerSlack);
            return BatchOutput.Print(created, Console.Out, Console.Error);
        }));
        return command;
    }

    private static Command List()
    {
        var json = new Option<bool>("--json") { Description = "print a JSON array instead of one line per VM" };
        var command = new Command("list", "List the VMs: name, state, generation, primary's node, secondary's node") { json };
        command.SetAction(parse => Guarded(() =>
        {
            using var client = Connect(parse);
            var list = client.Ask<VmSummaries>(new ListVmSummaries());
            if (list.Note is not null) Console.Error.WriteLine($"lockstep: note: {list.Note}");
            Console.Out.Write(parse.GetValue(json) ? BatchOutput.Json(list) + "\n" : BatchOutput.Table(list));
            if (list.Vms.Count == 0 && !parse.GetValue(json)) Console.Error.WriteLine("no VMs");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Status()
    {
        var json = new Option<bool>("--json") { Description = "print a JSON object instead of the human form" };
        var command = new Command("status", "Show a VM's state, placement, lag, counters and failover history") { Name, json };
        command.SetAction(parse => Guarded(() =>
        {
            using var client = Connect(parse);
            var status = client.Ask<VmStatus>(new GetVmStatus(parse.GetValue(Name)!));
            Console.Out.Write(parse.GetValue(json) ? StatusJson.Render(status) + "\n" : StatusView.Render(status));
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Watch()
    {
        var command = new Command("watch", "Show a VM's status every 500 ms until Ctrl-C") { Name };
        command.SetAction(parse => Guarded(() =>
        {
            using var client = Connect(parse);
            return StatusWatch.Run(client, parse.GetValue(Name)!, Console.Out);
        }));
        return command;
    }

    private static Command Send()
    {
        var via = new Option<SendVia>("--via")
        {
            Description = "auto: through the front door when the VM is exposed, else through ClusterClient; door: the front door only; cluster: ClusterClient only",
            DefaultValueFactory = _ => SendVia.Auto,
        };
        var port = new Option<int?>("--port") { Description = "through the front door: which of the VM's exposed ports (default: its first)" };
        var peer = new Option<uint?>("--peer") { Description = "send through ClusterClient as this peer number (implies --via cluster; default 1 there); the front door gives this client's address its peer id" };
        var window = new Option<int>("--window") { Description = "requests in flight at once", DefaultValueFactory = _ => 1 };
        var retryMs = new Option<int?>("--retry-ms")
        {
            Description = $"send a request again when unanswered this long, through the front door to the next node (default {DoorRetryMs} ms; through ClusterClient {ClusterRetryMs} ms)",
        };
        var timeout = new Option<double>("--timeout") { Description = "seconds to wait for a request's answer before giving up", DefaultValueFactory = _ => 30 };
        var command = new Command("send", "Send stdin lines to a VM as packets; print its answers, one per line") { Name, via, port, peer, window, retryMs, timeout };
        command.SetAction(parse => Guarded(() =>
        {
            string name = parse.GetValue(Name)!;
            if (parse.GetValue(window) < 1) throw new UsageException("--window must be at least 1");
            if (parse.GetValue(peer) >= PeerIds.FirstFrontDoorPeer) throw new UsageException($"--peer must be below {PeerIds.FirstFrontDoorPeer}: the ids above are the front door's clients");
            if (parse.GetValue(retryMs) < 1) throw new UsageException("--retry-ms must be at least 1");
            if (!(parse.GetValue(timeout) > 0)) throw new UsageException("--timeout must be more than 0 seconds");
            if (parse.GetValue(port) is { } wanted) CheckPort(wanted);
            var how = parse.GetValue(via);
            // Only through ClusterClient does a client choose its peer number, so --peer means that path: scripts written
            // for it keep its behaviour, and ask the control plane nothing before the first packet (a status asked during a
            // partition or a failover waited for sharding and failed sends that the data path would have carried).
            if (how == SendVia.Auto && parse.GetValue(peer) is not null) how = SendVia.Cluster;
            if (how == SendVia.Door && parse.GetValue(peer) is not null)
                throw new UsageException("--peer names a ClusterClient peer; through the front door the nodes give this client's address its peer id");
            if (how == SendVia.Cluster && parse.GetValue(port) is not null) throw new UsageException("--port is a front-door port; it does not go with --via cluster");

            var client = Connect(parse);
            IPacketPath path;
            try
            {
                var doors = SendRoute.Doors(client, name, how, parse.GetValue(port), note => Console.Error.WriteLine($"lockstep: {note}"));
                path = doors is null ? new ClusterClientPath(client, name, parse.GetValue(peer) ?? 1) : new FrontDoorPath(doors, first: 0);
            }
            catch
            {
                client.Dispose();
                throw;
            }
            int retry = parse.GetValue(retryMs) ?? (path is FrontDoorPath ? DoorRetryMs : ClusterRetryMs);
            // The front door needs nothing more from the control plane: the data path does not depend on it.
            if (path is FrontDoorPath) client.Dispose();
            try
            {
                var session = new PacketSession(path, name, parse.GetValue(window), TimeSpan.FromMilliseconds(retry), TimeSpan.FromSeconds(parse.GetValue(timeout)),
                    path is FrontDoorPath ? new RequestPacer() : null);
                return session.Run(Console.In, Console.OpenStandardOutput(), Console.Error);
            }
            finally
            {
                path.Dispose();
                if (path is ClusterClientPath) client.Dispose();
            }
        }));
        return command;
    }

    /// <summary>What the issue's target client does: a datagram unanswered for 50 ms goes to the next node.</summary>
    private const int DoorRetryMs = 50;

    /// <summary>ClusterClient's own failure detection and routing take far longer than a front door's.</summary>
    private const int ClusterRetryMs = 1000;

    /// <summary>`vm console NAME [--follow] [--last N]`: the guest's released console output.</summary>
    private static Command ConsoleOutput()
    {
        var follow = new Option<bool>("--follow", "-f") { Description = "keep printing new console output until Ctrl-C (it continues through a failover)" };
        var last = new Option<int?>("--last") { Description = "only the last N KiB kept (default: all that is kept, from the start of the run when it fits)" };
        var command = new Command("console", "Print a VM's console output (what the guest wrote to its UART, released under the output rule)") { Name, follow, last };
        command.SetAction(parse => Guarded(() =>
        {
            string name = parse.GetValue(Name)!;
            int? lastKiB = parse.GetValue(last);
            if (lastKiB is < 1 or > ConsoleRing.MaxCapacity / 1024) throw new UsageException($"--last takes 1 to {ConsoleRing.MaxCapacity / 1024} KiB");
            using var client = Connect(parse);
            return ConsoleFollow.Run(client, name, lastKiB * 1024, parse.GetValue(follow), Console.OpenStandardOutput(), Console.Error);
        }));
        return command;
    }

    /// <summary>`vm expose NAME [PORT]`: exposes a VM on one more port; without PORT, shows its ports and every node's listeners.</summary>
    private static Command Expose()
    {
        var port = new Argument<int?>("PORT") { Description = "port every node listens on for the VM, UDP and TCP", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("expose", "Expose a VM on PORT of every node (UDP and TCP); without PORT, show where it is exposed") { Name, port };
        command.SetAction(parse => Guarded(() =>
        {
            string name = parse.GetValue(Name)!;
            using var client = Connect(parse);
            if (parse.GetValue(port) is { } wanted)
            {
                CheckPort(wanted);
                PrintOk(client.Ask<ControlOk>(new ExposeVm(name, wanted)), $"exposed {name} on port {wanted}");
                return ExitCodes.Success;
            }
            var exposure = client.Ask<VmExposure>(new GetExposure(name));
            Console.Out.Write(ExposureView.Render(exposure));
            return exposure.Listeners.Any(l => !l.Open) ? ExitCodes.Unavailable : ExitCodes.Success;
        }));
        return command;
    }

    private static void CheckPort(int port)
    {
        if (port is < 1 or > 65535) throw new UsageException($"invalid port {port}: use 1-65535");
    }

    private static Command Simple(string verb, string description, Func<string, IControlRequest> request)
    {
        var command = new Command(verb, description) { Name };
        command.SetAction(parse => Guarded(() =>
        {
            string name = parse.GetValue(Name)!;
            using var client = Connect(parse);
            PrintOk(client.Ask<ControlOk>(request(name)), $"{verb}: {name}");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static ControlClient Connect(ParseResult parse)
    {
        double seconds = parse.GetValue(ContactTimeout);
        if (!double.IsFinite(seconds) || seconds <= 0 || seconds > 3600)
            throw new UsageException($"--contact-timeout must be a number of seconds above 0 and at most 3600, not {seconds}");
        return ControlClient.Connect(ContactPoints.Parse(parse.GetValue(Contact)!), TlsOptions.Load(parse.GetValue(TlsCert), parse.GetValue(TlsCa)),
            TimeSpan.FromSeconds(seconds));
    }

    /// <summary>Reads the image and checks it is a loadable executable, so obvious mistakes never reach the cluster.</summary>
    private static byte[] ReadImage(string path, uint ram)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ImageException($"cannot read image {path}: {e.Message}");
        }
        try
        {
            ElfLoader.Parse(bytes, ram, out _);
        }
        catch (ImageException e)
        {
            throw new ImageException($"invalid image {path}: {e.Message}");
        }
        return bytes;
    }

    private static void PrintOk(ControlOk ok, string otherwise) =>
        Console.Out.WriteLine(string.IsNullOrWhiteSpace(ok.Message) ? otherwise : ok.Message);

    /// <summary>As <see cref="LocalCommands.Guarded"/>, plus the ways talking to a cluster can fail; never a stack trace.</summary>
    private static int Guarded(Func<int> body)
    {
        try
        {
            return LocalCommands.Guarded(() =>
            {
                try
                {
                    return body();
                }
                catch (ClusterUnavailableException e) { return Fail(e.Message, ExitCodes.Unavailable); }
                catch (GatewayException e) { return Fail(e.Message, ExitCodes.BadInput); }
            });
        }
        catch (Exception e)
        {
            // Something in the client machinery itself (configuration, serialization): still one line.
            return Fail($"{e.GetType().Name}: {e.Message}", ExitCodes.Unavailable);
        }
    }

    private static int Fail(string message, int code)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"lockstep: {message}");
        return code;
    }
}
