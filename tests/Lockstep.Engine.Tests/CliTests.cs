using System.Diagnostics;
using Lockstep.Engine.Cpu;
using Lockstep.Harness;
using static Lockstep.Engine.Tests.Asm;

namespace Lockstep.Engine.Tests;

/// <summary>
/// The lockstep program for <see cref="CliTests"/>, built once and run from a private copy so that a rebuild
/// started elsewhere while the tests run cannot change it under them (<see cref="LockstepProgram.BuildPrivateCopy"/>).
/// </summary>
public sealed class CliFixture : IDisposable
{
    private readonly LockstepProgram _program = LockstepProgram.BuildPrivateCopy();

    public string Dll => _program.Dll;

    public void Dispose() => _program.Dispose();
}

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
}

public static class Cli
{
    public static CliResult Start(string program, IEnumerable<string> args, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish");
        }
        process.WaitForExit();
        return new CliResult(process.ExitCode, stdout.Result, stderr.Result);
    }
}

public sealed class CliTests(CliFixture cli) : IClassFixture<CliFixture>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lockstep-cli-tests-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private CliResult Lockstep(params string[] args) => Cli.Start("dotnet", [cli.Dll, .. args]);

    private string TempFile(string name, byte[] contents)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, contents);
        return path;
    }

    /// <summary>One line on stderr, "lockstep: ...", and no stack trace.</summary>
    private static string AssertOneErrorLine(CliResult result)
    {
        Assert.NotEqual(0, result.ExitCode);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Exception", result.Stderr);
        string line = Assert.Single(result.StderrLines);
        Assert.StartsWith("lockstep: ", line);
        return line;
    }

    [Fact]
    public void Run_hello_prints_its_greeting_and_exits_0()
    {
        var result = Lockstep("run", Repo.GuestPath("hello"));
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("Hello from Lockstep!\nRV32IM guest, machine mode, exiting with status 0.\n", result.Stdout);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public void Run_passes_the_guest_exit_code_through()
    {
        var program = new Prog
        {
            Li(A0, MemoryMap.Uart), Addi(A1, Zero, 'o'), Sb(A1, A0, 0), Addi(A1, Zero, 'k'), Sb(A1, A0, 0),
            Addi(A1, Zero, '\n'), Sb(A1, A0, 0),
            Prog.Finish((3u << 16) | 0x3333),
        };
        var result = Lockstep("run", TempFile("exit3.elf", MiniElf.Build(program)));
        Assert.Equal(3, result.ExitCode);
        Assert.Equal("ok\n", result.Stdout);
    }

    [Fact]
    public void Run_of_a_file_that_is_not_an_elf_fails_with_one_line()
    {
        string path = TempFile("notes.txt", "just some text\n"u8.ToArray());
        var result = Lockstep("run", path);
        string line = AssertOneErrorLine(result);
        Assert.Contains("not an ELF", line);
        Assert.Contains("notes.txt", line);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void Run_of_a_missing_file_fails_with_one_line()
    {
        var result = Lockstep("run", Path.Combine(_dir, "no-such.elf"));
        Assert.Contains("no-such.elf", AssertOneErrorLine(result));
    }

    [Fact]
    public void Run_of_an_image_for_another_machine_fails_with_one_line()
    {
        byte[] elf = Repo.GuestImage("hello");
        elf[18] = 62;
        Assert.Contains("wrong ELF machine", AssertOneErrorLine(Lockstep("run", TempFile("x86.elf", elf))));
    }

    [Fact]
    public void A_faulting_guest_is_reported_as_a_guest_fault()
    {
        var program = new Prog { Nop(), 0x00000000 };
        var result = Lockstep("run", TempFile("fault.elf", MiniElf.Build(program)));
        string line = AssertOneErrorLine(result);
        Assert.Contains("guest fault", line);
        Assert.Contains("illegal instruction (mcause 0x2)", line);
        Assert.Contains("0x80000004", line);
    }

    [Fact]
    public void Creating_several_vms_refuses_ports_of_one_vm_and_a_port_range_past_65535_before_reaching_a_cluster()
    {
        // No node runs on this contact: each refusal must come before the CLI tries to reach one.
        string[] common = ["--image", Repo.GuestPath("kv"), "--contact", "127.0.0.1:1"];
        var ports = Lockstep(["vm", "create", "a", "b", "--expose", "7000", .. common]);
        Assert.Equal(64, ports.ExitCode);
        Assert.Contains("--expose-from", AssertOneErrorLine(ports));
        var range = Lockstep(["vm", "create", "a", "b", "--expose-from", "65535", .. common]);
        Assert.Equal(64, range.ExitCode);
        Assert.Contains("invalid port 65536", AssertOneErrorLine(range));
        var both = Lockstep(["vm", "create", "a", "--expose", "7000", "--expose-from", "7001", .. common]);
        Assert.Equal(64, both.ExitCode);
        Assert.Contains("not both", AssertOneErrorLine(both));
    }

    [Fact]
    public void Migrate_needs_exactly_one_of_secondary_and_primary_before_reaching_a_cluster()
    {
        string[] contact = ["--contact", "127.0.0.1:1"];
        foreach (string[] options in new string[][] { [], ["--secondary", "127.0.0.1:4001", "--primary", "127.0.0.1:4002"] })
        {
            var result = Lockstep(["vm", "migrate", "kv", .. options, .. contact]);
            Assert.Equal(64, result.ExitCode);
            Assert.Contains("exactly one of --secondary NODE and --primary NODE", AssertOneErrorLine(result));
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("16385")]
    public void Console_last_out_of_range_is_a_usage_error_before_reaching_a_cluster(string kib)
    {
        var result = Lockstep(["vm", "console", "kv", "--last", kib, "--contact", "127.0.0.1:1"]);
        Assert.Equal(64, result.ExitCode);
        Assert.Contains("--last takes 1 to 16384 KiB", AssertOneErrorLine(result));
    }

    [Fact]
    public void A_bad_memory_size_is_a_usage_error()
    {
        var result = Lockstep("run", "--memory", "12345", Repo.GuestPath("hello"));
        Assert.Contains("memory", AssertOneErrorLine(result));
    }

    [Fact]
    public void Record_then_replay_reproduces_clockrng()
    {
        string log = Path.Combine(_dir, "clockrng.log");
        var recorded = Lockstep("record", Repo.GuestPath("clockrng"), "--log", log);
        Assert.Equal(0, recorded.ExitCode);
        Assert.Contains("mix: 0x", recorded.Stdout);

        var replayed = Lockstep("replay", Repo.GuestPath("clockrng"), "--log", log);
        Assert.Equal(0, replayed.ExitCode);
        Assert.Equal(recorded.Stdout, replayed.Stdout);
        Assert.Contains("replay matches the recording", replayed.Stderr);

        // The state hash both report is the same.
        string Hash(string stderr) => stderr.Split('\n').Single(l => l.StartsWith("state hash: "));
        Assert.Equal(Hash(recorded.Stderr), Hash(replayed.Stderr));

        // A corrupted log is refused, naming the damage.
        byte[] bytes = File.ReadAllBytes(log);
        byte[] corrupt = (byte[])bytes.Clone();
        corrupt[46 + 8 + 20] ^= 0x04; // inside the first segment's body
        var refused = Lockstep("replay", Repo.GuestPath("clockrng"), "--log", TempFile("corrupt.log", corrupt));
        string line = AssertOneErrorLine(refused);
        Assert.True(line.Contains("checksum") || line.Contains("corrupt"), line);
        Assert.Contains("segment 0", line);
        Assert.Equal("", refused.Stdout);

        // So is a truncated one.
        var truncated = Lockstep("replay", Repo.GuestPath("clockrng"), "--log", TempFile("short.log", bytes[..(bytes.Length - 3)]));
        Assert.Contains("truncated", AssertOneErrorLine(truncated));

        // And replaying it on another image.
        var other = Lockstep("replay", Repo.GuestPath("hello"), "--log", log);
        Assert.Contains("different image", AssertOneErrorLine(other));
    }

    [Fact]
    public void Replay_of_something_that_is_not_a_log_says_so()
    {
        var result = Lockstep("replay", Repo.GuestPath("hello"), "--log", Repo.GuestPath("hello"));
        Assert.Contains("not a Lockstep log", AssertOneErrorLine(result));
    }
}
