using System.Text;
using Lockstep.Replication.FrontDoor;

namespace Lockstep.Replication.Tests;

/// <summary>TCP lines for the front door: cut at '\n' wherever the reads split them, '\r' dropped, oversized lines refused whole.</summary>
public sealed class LineFramerTests
{
    private readonly List<string> _lines = [];
    private int _tooLong;

    private void Feed(LineFramer framer, string text) =>
        framer.Feed(Encoding.ASCII.GetBytes(text), l => _lines.Add(Encoding.ASCII.GetString(l)), () => _tooLong++);

    [Fact]
    public void Lines_are_cut_at_newlines_across_reads_and_lose_a_trailing_cr()
    {
        var framer = new LineFramer(100);
        Feed(framer, "a1 INCR x\r\na2 GE");
        Feed(framer, "T x\n\nlast");
        Assert.Equal(["a1 INCR x", "a2 GET x", ""], _lines);
        Assert.Equal(4, framer.Pending); // "last" waits for its newline
        Assert.Equal(0, _tooLong);
    }

    [Fact]
    public void Only_a_trailing_cr_is_dropped()
    {
        var framer = new LineFramer(100);
        Feed(framer, "a\rb\r\r\n");
        Assert.Equal(["a\rb\r"], _lines);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public void A_line_at_the_limit_passes_one_byte_more_is_refused_and_the_next_line_passes(int chunk)
    {
        var framer = new LineFramer(10);
        string text = "0123456789\n" + "0123456789\r\n" + "0123456789A\n" + new string('x', 50) + "\r\n" + "ok\n";
        for (int i = 0; i < text.Length; i += chunk) Feed(framer, text.Substring(i, Math.Min(chunk, text.Length - i)));
        Assert.Equal(["0123456789", "0123456789", "ok"], _lines);
        Assert.Equal(2, _tooLong);
        Assert.Equal(0, framer.Pending);
    }

    [Fact]
    public void An_oversized_line_is_reported_once_while_it_goes_on_and_nothing_of_it_is_passed()
    {
        var framer = new LineFramer(4);
        Feed(framer, "abcdefgh");
        Feed(framer, "ijklmnop");
        Assert.Equal(1, _tooLong);
        Assert.Empty(_lines);
        Assert.Equal(0, framer.Pending); // not buffered while skipped
        Feed(framer, "q\nab\n");
        Assert.Equal(["ab"], _lines);
        Assert.Equal(1, _tooLong);
    }
}
