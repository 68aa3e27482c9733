using System.Text.RegularExpressions;

namespace Lockstep.Debugger.Tests;

/// <summary>`replay --watch` against the reference replay, and the debugger options' failure cases.</summary>
public sealed partial class CliTests(KvRecording kv) : IClassFixture<KvRecording>
{
    [Fact]
    public void Watch_prints_every_change_of_the_word_with_the_writer_as_a_forward_replay_sees_it()
    {
        uint freeCount = kv.Symbols["free_count"];
        var reference = ForwardReplay.Of(kv, [], freeCount);
        var result = LockstepProgram.Run("replay", KvRecording.Image, "--log", kv.LogPath, "--watch", $"0x{freeCount:x}");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var printed = ChangeLine().Matches(result.Stdout)
            .Select(m => new WordChange(ulong.Parse(m.Groups[1].Value), Convert.ToUInt32(m.Groups[2].Value, 16), Convert.ToUInt32(m.Groups[3].Value, 16), Convert.ToUInt32(m.Groups[4].Value, 16)))
            .ToList();
        Assert.Equal(reference.Changes, printed);
        Assert.Contains($"{reference.Changes.Count} changes up to instruction {reference.End}", result.Stdout);
        Assert.Contains("replay matches the recording", result.Stderr);
        Assert.Contains("VALUE", result.Stderr); // the guest's outputs are shown, on stderr
    }

    [Fact]
    public void Watch_sees_a_word_written_by_the_network_device()
    {
        uint buffer = kv.Symbols["rx_buf"];
        var reference = ForwardReplay.Of(kv, [], buffer);
        var result = LockstepProgram.Run("replay", KvRecording.Image, "--log", kv.LogPath, "--watch", $"{buffer}");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Equal(reference.Changes.Count, ChangeLine().Matches(result.Stdout).Count);
    }

    [Theory]
    [InlineData("--watch", "0x10", "not a word of guest RAM")]
    [InlineData("--watch", "banana", "not an address")]
    [InlineData("--gdb", "localhost", "expected HOST:PORT")]
    [InlineData("--gdb", "127.0.0.1:99999", "expected HOST:PORT")]
    [InlineData("--checkpoint-interval", "0", "at least 1")]
    public void Bad_debugger_options_are_refused_in_one_line(string option, string value, string message)
    {
        var result = LockstepProgram.Run("replay", KvRecording.Image, "--log", kv.LogPath, option, value);
        Assert.Equal(64, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("lockstep: ", line);
        Assert.Contains(message, line);
    }

    [Fact]
    public void Gdb_and_watch_together_are_refused()
    {
        var result = LockstepProgram.Run("replay", KvRecording.Image, "--log", kv.LogPath, "--gdb", "127.0.0.1:0", "--watch", "0x80000000");
        Assert.Equal(64, result.ExitCode);
        Assert.Contains("cannot be used together", result.Stderr);
    }

    [Fact]
    public void A_port_already_in_use_is_refused_in_one_line()
    {
        var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        try
        {
            int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
            var result = LockstepProgram.Run("replay", KvRecording.Image, "--log", kv.LogPath, "--gdb", $"127.0.0.1:{port}");
            Assert.Equal(64, result.ExitCode);
            Assert.Contains("cannot listen there", result.Stderr);
        }
        finally
        {
            taken.Stop();
        }
    }

    [Fact]
    public void Gdb_on_a_log_of_another_image_is_refused_before_listening()
    {
        var result = LockstepProgram.Run("replay", LockstepProgram.Guest("hello"), "--log", kv.LogPath, "--gdb", "127.0.0.1:0");
        Assert.Equal(65, result.ExitCode);
        Assert.DoesNotContain("listening", result.Stderr);
    }

    [GeneratedRegex(@"instruction (\d+) pc 0x([0-9a-f]+): 0x([0-9a-f]+) -> 0x([0-9a-f]+)")]
    private static partial Regex ChangeLine();
}
