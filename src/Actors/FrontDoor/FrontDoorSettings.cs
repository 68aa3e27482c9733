using Akka.Configuration;

namespace Lockstep.Actors.FrontDoor;

/// <summary>The `lockstep.front-door` section of a node's configuration.</summary>
/// <param name="MaxPacket">Largest datagram or TCP line passed to a guest; anything longer is refused.</param>
/// <param name="RetryBind">How often a listener that could not be opened is tried again.</param>
public sealed record FrontDoorSettings(int MaxPacket, TimeSpan RetryBind)
{
    /// <summary>The most a guest's network device takes in one packet (the engine's GuestMaxPacket).</summary>
    public const int GuestMaxPacket = 64 * 1024;

    public static readonly FrontDoorSettings Default = new(GuestMaxPacket, TimeSpan.FromSeconds(5));

    public static FrontDoorSettings From(Config config)
    {
        var section = config.GetConfig("lockstep.front-door");
        if (section is null || section.IsEmpty) return Default;
        int max = section.GetInt("max-packet", Default.MaxPacket);
        // The guest's network device takes no more than this; a larger limit would only move the refusal into the guest.
        if (max < 1 || max > GuestMaxPacket)
            throw new ArgumentException($"lockstep.front-door.max-packet = {max}: use 1 to {GuestMaxPacket}");
        return new FrontDoorSettings(max, section.GetTimeSpan("retry-bind", Default.RetryBind));
    }
}
