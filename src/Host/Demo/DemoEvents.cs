namespace Lockstep.Host.Demo;

/// <summary>The demo's narrative: what happened and when, written by every part and read by the view.</summary>
public sealed class DemoEvents(DemoClock clock)
{
    private readonly List<DemoEvent> _events = [];
    private readonly Lock _lock = new();

    public void Add(string text)
    {
        lock (_lock) _events.Add(new DemoEvent(clock.NowMs, text));
    }

    /// <summary>The events from index <paramref name="from"/> on, for readers that keep their place.</summary>
    public IReadOnlyList<DemoEvent> Since(int from)
    {
        lock (_lock) return from >= _events.Count ? [] : _events.GetRange(from, _events.Count - from);
    }

    public IReadOnlyList<DemoEvent> Last(int count)
    {
        lock (_lock) return _events.GetRange(Math.Max(0, _events.Count - count), Math.Min(count, _events.Count));
    }
}
