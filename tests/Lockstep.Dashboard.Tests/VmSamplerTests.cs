namespace Lockstep.Dashboard.Tests;

public sealed class VmSamplerTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(99)]
    [InlineData(60_001)]
    public void A_poll_interval_out_of_range_is_refused_before_anything_starts(int milliseconds)
    {
        // Refused before the sampler touches its actor system or gateway, so none is needed here.
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => new VmSampler(null!, null!, TimeSpan.FromMilliseconds(milliseconds)));
        Assert.Equal("interval", refused.ParamName);
    }
}
