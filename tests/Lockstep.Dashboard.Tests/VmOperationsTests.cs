using System.Net;
using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard.Tests;

public sealed class VmOperationsTests
{
    [Theory]
    [InlineData("failover", typeof(TestFailover))]
    [InlineData("restart-secondary", typeof(RestartSecondary))]
    [InlineData("pause", typeof(PauseVm))]
    [InlineData("resume", typeof(ResumeVm))]
    [InlineData("stop", typeof(StopVm))]
    public void Each_button_sends_the_request_of_the_cli_command_of_its_name(string operation, Type request)
    {
        var sent = VmOperations.Request(operation, "kv", null);
        Assert.IsType(request, sent);
        Assert.Equal("kv", sent.Name);
    }

    [Theory]
    [InlineData("protect", ProtectionMode.On)]
    [InlineData("resume-protection", ProtectionMode.On)]
    [InlineData("unprotect", ProtectionMode.Off)]
    [InlineData("suspend-protection", ProtectionMode.Suspended)]
    public void The_protection_buttons_set_the_mode(string operation, ProtectionMode mode) =>
        Assert.Equal(new SetProtection("kv", mode), VmOperations.Request(operation, "kv", null));

    [Fact]
    public void Migrate_takes_the_node_trimmed() =>
        Assert.Equal(new MigrateSecondary("kv", "127.0.0.1:4055"), VmOperations.Request("migrate-secondary", "kv", " 127.0.0.1:4055 "));

    [Fact]
    public void A_switchover_takes_the_node_trimmed() =>
        Assert.Equal(new MigratePrimary("kv", "127.0.0.1:4055"), VmOperations.Request("migrate-primary", "kv", " 127.0.0.1:4055 "));

    [Theory]
    [InlineData("migrate-primary", null)]
    [InlineData("migrate-secondary", null)]
    [InlineData("migrate-secondary", "  ")]
    [InlineData("reboot", null)]
    [InlineData("", null)]
    public void A_request_that_cannot_be_made_is_refused_with_its_reason(string operation, string? node)
    {
        var refused = Assert.Throws<ArgumentException>(() => VmOperations.Request(operation, "kv", node));
        Assert.Contains(operation.StartsWith("migrate-", StringComparison.Ordinal) ? "needs the node" : "operations are", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_refusal_kind_has_an_http_status_that_is_an_error()
    {
        foreach (var kind in Enum.GetValues<ControlErrorKind>())
            Assert.True((int)VmOperations.StatusOf(kind) >= 400, $"{kind} answered {VmOperations.StatusOf(kind)}");
        Assert.Equal(HttpStatusCode.NotFound, VmOperations.StatusOf(ControlErrorKind.UnknownVm));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, VmOperations.StatusOf(ControlErrorKind.Unavailable));
    }
}
