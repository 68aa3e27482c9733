using System.Threading.Channels;
using Lockstep.Harness;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// How `vm send` gets its packets to the VM and the answers back: through the front door (UDP to the nodes'
/// addresses) or through ClusterClient. What comes back is posted as <see cref="PathAnswer"/> and <see cref="PathRefusal"/>.
/// </summary>
public interface IPacketPath : IDisposable
{
    /// <summary>The largest packet, in bytes, this path carries whole.</summary>
    int MaxPacket { get; }

    /// <summary>Where the packets go, for messages: "through the front door at ...".</summary>
    string Route { get; }

    /// <summary>From now on answers and refusals go to <paramref name="events"/>.</summary>
    void Start(ChannelWriter<object> events);

    /// <summary>Sends the copies; <paramref name="resend"/> when they went unanswered (a path with several ways in turns to the next).</summary>
    void Send(IReadOnlyList<(KvRequest Request, KvTag Tag)> copies, bool resend);
}

/// <summary>An output of the VM for this client; <paramref name="Seq"/> its output sequence number where the path carries one.</summary>
public sealed record PathAnswer(ulong? Seq, string Text);

/// <summary>A request was refused; <paramref name="Final"/>: sending again cannot help, the session ends.</summary>
public sealed record PathRefusal(string Message, bool Final);
