namespace Lockstep.Host.Demo;

/// <summary>
/// What the VM acknowledged to the clients: counter values in the order received, the last value stored
/// under each key (every key belongs to one client, which writes it one request at a time), and anything odd.
/// </summary>
public sealed class DemoAcknowledged
{
    private readonly Dictionary<string, List<long>> _counters = [];
    private readonly Dictionary<string, string> _latest = [];
    private int _putCount;
    private readonly List<string> _problems = [];
    private readonly Lock _lock = new();

    public void Increment(string counter, long value)
    {
        lock (_lock)
        {
            if (!_counters.TryGetValue(counter, out var values)) _counters[counter] = values = [];
            values.Add(value);
        }
    }

    public void Put(string key, string value)
    {
        lock (_lock)
        {
            _latest[key] = value;
            _putCount++;
        }
    }

    public void Problem(string text)
    {
        lock (_lock) _problems.Add(text);
    }

    public IReadOnlyDictionary<string, List<long>> Counters()
    {
        lock (_lock) return _counters.ToDictionary(kv => kv.Key, kv => kv.Value.ToList());
    }

    /// <summary>Each key with the value of the last acknowledged PUT to it.</summary>
    public IReadOnlyDictionary<string, string> Latest()
    {
        lock (_lock) return new Dictionary<string, string>(_latest);
    }

    public int PutCount
    {
        get
        {
            lock (_lock) return _putCount;
        }
    }

    public IReadOnlyList<string> Problems()
    {
        lock (_lock) return _problems.ToList();
    }
}
