using System.Xml.Linq;
using Lockstep.Host.Debugging;

namespace Lockstep.Debugger.Tests;

/// <summary>The stub over a real socket: malformed input never ends the session, every packet gets its answer.</summary>
public sealed class ProtocolTests(KvRecording kv) : IClassFixture<KvRecording>, IDisposable
{
    private readonly RspClient _client = new(kv.NewTimeline(Timeline.DefaultCheckpointInterval));

    public void Dispose() => _client.Dispose();

    [Fact]
    public void A_bad_checksum_gets_a_nak_and_the_resent_packet_its_answer()
    {
        _client.SendRaw("$?#00");
        Assert.Equal('-', _client.ReadAck());
        _client.SendRaw("$g#zz");
        Assert.Equal('-', _client.ReadAck());
        Assert.Equal("T05", _client.Ask("?"));
    }

    [Fact]
    public void An_unknown_packet_gets_the_empty_reply()
    {
        Assert.Equal("", _client.Ask("qNoSuchThing"));
        Assert.Equal("", _client.Ask("vNoSuchThing;1"));
        Assert.Equal("", _client.Ask("Z9,80000000,4"));
        Assert.Equal("T05", _client.Ask("?"));
    }

    [Fact]
    public void An_oversized_packet_is_refused_and_the_session_goes_on()
    {
        string huge = "m" + new string('1', GdbStub.PacketSize + 1000);
        Assert.Equal(RspConnection.TooLongReply, _client.Ask(huge));
        Assert.Equal(33 * 8, _client.Ask("g").Length);
    }

    [Fact]
    public void Garbage_between_and_inside_packets_is_survived()
    {
        var random = new Random(3);
        var noise = new byte[5000];
        random.NextBytes(noise);
        for (int i = 0; i < noise.Length; i++) if (noise[i] is (byte)'$' or (byte)'-' or 0x03) noise[i] = (byte)'x';
        _client.SendRaw(noise);
        _client.SendRaw("$m8000"); // a packet that never ends: the next '$' starts over
        Assert.Equal("T05", _client.Ask("?"));

        // Well-framed packets with random content: each gets some answer, none ends the session.
        for (int i = 0; i < 300; i++)
        {
            var body = new char[random.Next(1, 40)];
            for (int j = 0; j < body.Length; j++)
            {
                char c = (char)random.Next(0x20, 0x7F);
                body[j] = c is '$' or '#' or '}' or '*' ? 'a' : c; // characters the framing reserves
            }
            string payload = new(body);
            if (payload[0] is 'c' or 's' or 'k' or 'D' or 'b' or 'v') payload = "q" + payload; // keep the target where it is
            _client.Ask(payload);
        }
        Assert.Equal("T05", _client.Ask("?"));
        Assert.Null(_client.Failure);
    }

    [Fact]
    public void Malformed_arguments_get_error_replies()
    {
        Assert.Equal("E02", _client.Ask("mzz,4"));
        Assert.Equal("E02", _client.Ask("m80000000"));
        Assert.Equal("E01", _client.Ask("m10,4"));            // not RAM
        Assert.Equal("E01", _client.Ask("mfffffffc,8"));      // wraps around
        Assert.Equal("E02", _client.Ask("Z0"));
        Assert.Equal("E02", _client.Ask("Z2,80000000,0"));
        Assert.Equal("E01", _client.Ask("p999"));
        Assert.Equal("E02", _client.Ask("pxyz"));
        Assert.Equal("E01", _client.Ask("G" + new string('0', 33 * 8))); // the history is read-only
        Assert.Equal("E01", _client.Ask("M80000000,4:00000000"));
        Assert.Equal("E01", _client.Ask("P1=00000000"));
        Assert.Equal("E00", _client.Ask("qXfer:features:read:other.xml:0,100"));
        Assert.Equal("T05", _client.Ask("?"));
    }

    [Fact]
    public void QSupported_advertises_packet_size_the_description_and_reverse_execution()
    {
        var features = _client.Ask("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386").Split(';');
        Assert.Contains($"PacketSize={GdbStub.PacketSize:x}", features);
        Assert.Contains("qXfer:features:read+", features);
        Assert.Contains("ReverseStep+", features);
        Assert.Contains("ReverseContinue+", features);
    }

    [Fact]
    public void The_target_description_reads_in_pieces_and_names_the_core_and_csrs()
    {
        var xml = new System.Text.StringBuilder();
        while (true)
        {
            string reply = _client.Ask($"qXfer:features:read:target.xml:{xml.Length:x},80");
            Assert.True(reply[0] is 'm' or 'l', reply);
            xml.Append(reply[1..]);
            if (reply[0] == 'l') break;
        }
        var document = XDocument.Parse(xml.ToString());
        var cpu = document.Descendants("feature").Single(f => (string?)f.Attribute("name") == "org.gnu.gdb.riscv.cpu");
        Assert.Equal(33, cpu.Elements("reg").Count());
        var csrs = document.Descendants("feature").Single(f => (string?)f.Attribute("name") == "org.gnu.gdb.riscv.csr");
        Assert.Contains(csrs.Elements("reg"), r => (string?)r.Attribute("name") == "mcause" && (string?)r.Attribute("regnum") == $"{65 + 0x342}");
    }

    [Fact]
    public void Registers_memory_and_a_step_read_the_replayed_machine()
    {
        Assert.Equal("00000080", _client.Ask("p20"));              // pc = 0x80000000, little-endian
        string first = _client.Ask("m80000000,4");
        Assert.Equal(8, first.Length);
        Assert.Equal("T05", _client.Ask("s"));
        Assert.Equal("04000080", _client.Ask("p20"));
        Assert.Equal("T05", _client.Ask("bs"));
        Assert.Equal("T05replaylog:begin;", _client.Ask("bs"));
        Assert.Equal("00000080", _client.Ask("p20"));
        Assert.Equal(ToHex("position 0 pc 0x80000000\n"), _client.Ask("qRcmd," + ToHex("position")));
    }

    [Fact]
    public void Breakpoints_and_continue_in_both_directions_through_the_packets()
    {
        uint upsert = kv.Symbols["store_upsert"];
        Assert.Equal("OK", _client.Ask($"Z0,{upsert:x},4"));
        Assert.Equal("T05", _client.Ask("vCont;c"));
        Assert.Equal(Word(upsert), _client.Ask("p20"));
        Assert.Equal("T05", _client.Ask("c"));
        Assert.Equal("T05", _client.Ask("bc"));
        Assert.Equal(Word(upsert), _client.Ask("p20"));
        Assert.Equal("OK", _client.Ask($"z0,{upsert:x},4"));
        Assert.Equal("T05replaylog:begin;", _client.Ask("bc"));
        Assert.Equal("T05replaylog:end;", _client.Ask("c"));
        Assert.Equal("T05replaylog:end;", _client.Ask("s"));
    }

    [Fact]
    public void Kill_ends_the_session_cleanly_and_so_does_a_client_going_away_mid_packet()
    {
        Assert.Equal("OK", _client.Ask("k"));
        Assert.True(_client.EndedCleanly(TimeSpan.FromSeconds(10)));

        using var other = new RspClient(kv.NewTimeline(Timeline.DefaultCheckpointInterval));
        other.SendRaw("$qSupported:xmlRegis");
        other.CloseClient();
        Assert.True(other.EndedCleanly(TimeSpan.FromSeconds(10)));
    }

    private static string Word(uint value) => Convert.ToHexStringLower(BitConverter.GetBytes(value));

    private static string ToHex(string text) => Convert.ToHexStringLower(System.Text.Encoding.UTF8.GetBytes(text));
}
