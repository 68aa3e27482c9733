using Akka.Configuration;

namespace Lockstep.Actors.FrontDoor;

/// <summary>The `lockstep.front-door` section of a node's configuration.</summary>
/// <param name="MaxPacket">Largest datagram or TCP line passed to a guest; anything longer is refused.</param>
/// <param name="RetryBind">How often a listener that could not be opened is tried again.</param>
/// <param name="MaxDatagramAge">
/// A datagram that waited longer than this in the node before it would be forwarded (in its socket while the node
/// was stalled, in the port's mailbox) is dropped. Its client resent it long ago, perhaps through another node, and a
/// copy arriving at the primary after the client went on by more requests than the guest remembers would run again.
/// </param>
/// <param name="MaxConnections">
/// TCP connections open at once per exposed port on this node (each holds a reading thread); one more is refused with an
/// error line and counted in `vm expose NAME`.
/// </param>
public sealed record FrontDoorSettings(int MaxPacket, TimeSpan RetryBind, TimeSpan MaxDatagramAge, int MaxConnections = FrontDoorSettings.DefaultMaxConnections)
{
    public const int DefaultMaxConnections = 1024;

    /// <summary>The front door's own dispatcher (threads of its own) where the node's configuration defines it.</summary>
    public const string DispatcherPath = "lockstep.front-door.dispatcher";

    /// <summary>Props on the front door's own dispatcher when <paramref name="system"/> defines it, else as they are (a test's system).</summary>
    public static Akka.Actor.Props OnOwnThreads(Akka.Actor.Props props, Akka.Actor.ActorSystem system) =>
        system.Dispatchers.HasDispatcher(DispatcherPath) ? props.WithDispatcher(DispatcherPath) : props;

    /// <summary>The most a guest's network device takes in one packet (the engine's GuestMaxPacket).</summary>
    public const int GuestMaxPacket = 64 * 1024;

    public static readonly FrontDoorSettings Default = new(GuestMaxPacket, TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(200));

    public static FrontDoorSettings From(Config config)
    {
        var section = config.GetConfig("lockstep.front-door");
        if (section is null || section.IsEmpty) return Default;
        int max = section.GetInt("max-packet", Default.MaxPacket);
        // The guest's network device takes no more than this; a larger limit would only move the refusal into the guest.
        if (max < 1 || max > GuestMaxPacket)
            throw new ArgumentException($"lockstep.front-door.max-packet = {max}: use 1 to {GuestMaxPacket}");
        var age = Duration(section, "max-datagram-age", Default.MaxDatagramAge);
        if (age <= TimeSpan.Zero) throw new ArgumentException($"lockstep.front-door.max-datagram-age = {age.TotalMilliseconds} ms: use more than 0");
        int connections = section.GetInt("max-connections", Default.MaxConnections);
        if (connections < 1) throw new ArgumentException($"lockstep.front-door.max-connections = {connections}: use 1 or more");
        return new FrontDoorSettings(max, Duration(section, "retry-bind", Default.RetryBind), age, connections);
    }

    private static TimeSpan Duration(Config section, string name, TimeSpan fallback)
    {
        try
        {
            return section.GetTimeSpan(name, fallback);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"lockstep.front-door.{name}: {e.Message} (a duration such as 200ms)", e);
        }
    }
}
