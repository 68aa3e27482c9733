using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.TestKit;
using Lockstep.Actors.Protocol;
using Lockstep.Actors.Vm;

namespace Lockstep.Actors.Tests.Specs;

/// <summary>
/// The directory's hold on exposed ports: a probe stands for the VMs' shard region and answers the definitions; the
/// directory is stopped and started again on its journal to show what it recovers.
/// </summary>
public sealed class VmDirectorySpecs : Akka.TestKit.Xunit2.TestKit
{
    private readonly TestProbe _vms;
    private IActorRef _directory;
    private int _incarnation;

    public VmDirectorySpecs() : base(SpecSupport.Config)
    {
        _vms = CreateTestProbe();
        _directory = StartDirectory();
    }

    private IActorRef StartDirectory() => Sys.ActorOf(VmDirectory.Props(_vms.Ref), $"directory-{++_incarnation}");

    private void Restart()
    {
        Watch(_directory);
        _directory.Tell(PoisonPill.Instance);
        ExpectTerminated(_directory);
        _directory = StartDirectory();
    }

    /// <summary>Creates <paramref name="name"/>, answering its definition as its coordinator would.</summary>
    private void Create(string name, params int[] expose)
    {
        _directory.Tell(new CreateVm(name, SpecSupport.KvImage, 16 << 20, expose));
        var define = ExpectForwarded<DefineVm>(name);
        Assert.Equal(expose, define.Expose);
        _directory.Tell(new VmDefined(name, $"VM '{name}' created"), _vms.Ref);
        ExpectMsg<ControlOk>();
    }

    private T ExpectForwarded<T>(string vm)
    {
        var envelope = _vms.ExpectMsg<ShardingEnvelope>(TimeSpan.FromSeconds(5));
        Assert.Equal(vm, envelope.EntityId);
        return Assert.IsType<T>(envelope.Message);
    }

    private void ExpectRefused(object request, string message)
    {
        _directory.Tell(request);
        var error = ExpectMsg<ControlError>();
        Assert.Equal((message, ControlErrorKind.AlreadyExists), (error.Message, error.Kind));
        _vms.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_port_is_given_to_one_vm_at_create_and_expose_kept_across_a_restart_and_freed_when_its_vm_stops()
    {
        Create("a", 5000);
        ExpectRefused(new CreateVm("b", SpecSupport.KvImage, 16 << 20, [5001, 5000]), "port 5000 is exposed by VM 'a' already");

        // In a batch, the VM that would get a taken port is refused, the others are created.
        _directory.Tell(new CreateVms(["b", "c"], SpecSupport.KvImage, 16 << 20, ExposeFrom: 5000));
        Assert.Equal([5001], ExpectForwarded<DefineVm>("c").Expose);
        _directory.Tell(new VmDefined("c", "VM 'c' created"), _vms.Ref);
        var results = ExpectMsg<VmsCreated>().Results;
        Assert.Equal(("b", ControlErrorKind.AlreadyExists), (results[0].Name, results[0].Error!.Value));
        Assert.Equal("port 5000 is exposed by VM 'a' already", results[0].Message);
        Assert.Null(results[1].Error);

        // `vm expose` goes through the directory: a port of another VM is refused, a free one passed on to the coordinator.
        Create("d");
        ExpectRefused(new ExposeVm("d", 5001), "port 5001 is exposed by VM 'c' already");
        _directory.Tell(new ExposeVm("d", 5002));
        Assert.Equal(5002, ExpectForwarded<ExposeVm>("d").Port);
        _directory.Tell(new ExposeVm("nosuch", 5003));
        Assert.Equal(ControlErrorKind.UnknownVm, ExpectMsg<ControlError>().Kind);

        // What the journal holds: the ports of creates and of exposes.
        Restart();
        ExpectRefused(new CreateVm("e", SpecSupport.KvImage, 16 << 20, [5000]), "port 5000 is exposed by VM 'a' already");
        ExpectRefused(new ExposeVm("a", 5002), "port 5002 is exposed by VM 'd' already");

        // A stopped VM's ports are free again, also after the next restart.
        _directory.Tell(new StopVm("a"));
        ExpectForwarded<StopVm>("a");
        Restart();
        _directory.Tell(new ExposeVm("d", 5000));
        Assert.Equal(5000, ExpectForwarded<ExposeVm>("d").Port);
        ExpectRefused(new ExposeVm("c", 5000), "port 5000 is exposed by VM 'd' already");
    }
}
