namespace Lockstep.Cluster.Tests;

/// <summary>Mistakes and missing clusters give a non-zero status and one clear line on stderr.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ErrorTests(ProgramFixture program, ITestOutputHelper output)
{
    /// <summary>Nothing listens here during the test.</summary>
    private const int DeadPort = 4999;

    [Fact]
    public async Task ErrorsAreClear()
    {
        await using var cluster = new TestCluster(program, output, nameof(ErrorsAreClear), 4630);

        TestCluster.EnsurePortFree(DeadPort);
        var noCluster = await cluster.Cli(["vm", "list", "--contact", $"127.0.0.1:{DeadPort}"]);
        AssertOneLineFailure(noCluster, "no cluster node answered");
        Assert.Contains($"127.0.0.1:{DeadPort}", noCluster.Stderr[0]);
        var patient = await cluster.Cli(["vm", "list", "--contact", $"127.0.0.1:{DeadPort}", "--contact-timeout", "1.5"]);
        AssertOneLineFailure(patient, "within 1.5 s");
        Assert.Equal(69, patient.ExitCode); // src/Host/Cli/ExitCodes.cs: Unavailable
        foreach (string badTimeout in new[] { "0", "-3", "nan", "soon" })
        {
            var refused = await cluster.Cli(["vm", "list", "--contact", $"127.0.0.1:{DeadPort}", "--contact-timeout", badTimeout]);
            AssertOneLineFailure(refused, "--contact-timeout");
        }

        await cluster.StartNodes(count: 1);

        var unknown = await cluster.Cli(["vm", "status", "nosuch", "--contact", cluster.Contact]);
        AssertOneLineFailure(unknown, "nosuch");
        Assert.Empty(unknown.Stdout);

        string[] create = ["vm", "create", "kv1", "--image", program.KvImage, "--contact", cluster.Contact];
        var first = await cluster.Cli(create);
        Assert.True(first.ExitCode == 0, $"the first create failed: {first}");
        var second = await cluster.Cli(create);
        AssertOneLineFailure(second, "already exists");
        Assert.Contains("kv1", second.Stderr[0]);

        string notElf = Path.Combine(cluster.Folder, "not-an-elf.img");
        await File.WriteAllTextAsync(notElf, "this is a text file, not an ELF executable\n");
        var bad = await cluster.Cli(["vm", "create", "bad", "--image", notElf, "--contact", cluster.Contact]);
        AssertOneLineFailure(bad, "invalid image");

        var list = await cluster.Cli(["vm", "list", "--contact", cluster.Contact]);
        Assert.True(list.ExitCode == 0, $"vm list failed: {list}");
        Assert.Equal(["kv1"], list.Stdout.Where(l => l.Length > 0).Select(l => l.Split(' ')[0]));
        cluster.Passed();
    }

    private static void AssertOneLineFailure(CliResult result, string mention)
    {
        Assert.True(result.ExitCode != 0, $"expected a failure mentioning '{mention}', got success: {result}");
        var lines = result.Stderr.Where(l => l.Length > 0).ToList();
        Assert.True(lines.Count == 1, $"expected exactly one line on stderr: {result}");
        Assert.True(lines[0].Contains(mention, StringComparison.OrdinalIgnoreCase), $"stderr does not mention '{mention}': {result}");
    }
}
