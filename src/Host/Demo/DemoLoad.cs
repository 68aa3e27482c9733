using System.Globalization;

namespace Lockstep.Host.Demo;

/// <summary>
/// The client load: several logical clients, each incrementing its own counter (and now and then storing a
/// key of its own), one request at a time. What the VM acknowledged is kept for the checks at the end.
/// </summary>
public sealed class DemoLoad
{
    /// <summary>Every this-many requests of a client is a PUT instead of an INCR.</summary>
    private const int PutEvery = 8;

    /// <summary>Keys per client, reused in turn: kv holds 4096 keys, and a long run must not fill it.</summary>
    private const int KeysPerClient = 512;

    private readonly IDemoTransport _transport;
    private readonly DemoClock _clock;
    private readonly DemoEvents _events;
    private readonly int _clients;
    private readonly TimeSpan _giveUp;
    private readonly List<Task> _running = [];
    private readonly List<DemoPeer> _clientsStarted = [];
    private volatile bool _stopping;

    public DemoLoad(IDemoTransport transport, DemoClock clock, DemoEvents events, int clients, TimeSpan giveUp)
    {
        _transport = transport;
        _clock = clock;
        _events = events;
        _clients = clients;
        _giveUp = giveUp;
        Peers = Enumerable.Range(1, clients).Select(p => (uint)p).ToList();
    }

    public IReadOnlyList<uint> Peers { get; }

    /// <summary>Requests held back by the clients' <see cref="Lockstep.Harness.RequestPacer"/>, over all clients.</summary>
    public int PacedRequests => _clientsStarted.Sum(c => c.PacedRequests);

    public DemoSamples Samples { get; } = new();

    public DemoAcknowledged Acknowledged { get; } = new();

    public static string CounterOf(uint peer) => $"c{peer}";

    public void Start(CancellationToken cancel)
    {
        foreach (uint peer in Peers)
        {
            var client = new DemoPeer(peer, _transport, _clock, _giveUp);
            _clientsStarted.Add(client);
            _running.Add(Task.Run(() => RunClientAsync(client, cancel), CancellationToken.None));
        }
        _events.Add($"load started: {_clients} clients, one request at a time each, through {_transport.Describe()}");
    }

    /// <summary>Stops issuing requests; every request already sent is still seen through, so its effect is known.</summary>
    public async Task StopAsync()
    {
        _stopping = true;
        try
        {
            await Task.WhenAll(_running);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RunClientAsync(DemoPeer client, CancellationToken cancel)
    {
        for (long n = 1; !_stopping && !cancel.IsCancellationRequested; n++)
        {
            string key = "", value = "";
            string command;
            if (n % PutEvery == 0)
            {
                key = $"k{client.Peer}_{n / PutEvery % KeysPerClient}";
                value = $"v{client.Peer}_{n}";
                command = $"PUT {key} {value}";
            }
            else
            {
                command = $"INCR {CounterOf(client.Peer)}";
            }
            var answer = await client.CallAsync(command, cancel);
            if (answer is null)
            {
                Acknowledged.Problem($"client {client.Peer}: no answer to \"{command}\" within {_giveUp.TotalSeconds:0} s; this client stopped");
                _events.Add($"client {client.Peer} gave up on \"{command}\"");
                return;
            }
            Samples.Add(answer);
            if (command.StartsWith("PUT", StringComparison.Ordinal))
            {
                if (answer.Body == "OK") Acknowledged.Put(key, value);
                else Acknowledged.Problem($"client {client.Peer}: \"{command}\" answered \"{answer.Body}\"");
            }
            else if (long.TryParse(answer.Body, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long counter))
            {
                Acknowledged.Increment(CounterOf(client.Peer), counter);
            }
            else
            {
                Acknowledged.Problem($"client {client.Peer}: \"{command}\" answered \"{answer.Body}\"");
            }
        }
    }
}
