using System.Threading.Channels;
using Lockstep.Harness;

namespace Lockstep.Host.Demo;

/// <summary>How the demo's clients reach the VM: through the front door (the default) or through ClusterClient (`--via cluster`, for comparison).</summary>
public interface IDemoTransport : IDisposable
{
    /// <summary>The answers for <paramref name="client"/> (output sequence number where the path has one, text without its line end), in arrival order; one reader per client.</summary>
    ChannelReader<(ulong? Seq, string Text)> Register(uint client);

    /// <summary>Sends a copy of a request for <paramref name="client"/>; <paramref name="resend"/>: an earlier copy went unanswered.</summary>
    void Send(uint client, KvRequest request, KvTag tag, bool resend);

    /// <summary>An unanswered request is sent again after this long.</summary>
    TimeSpan Retry { get; }

    /// <summary>Whether clients must keep within a <see cref="RequestPacer"/> (no delivery tags keep late copies out).</summary>
    bool NeedsPacing { get; }

    /// <summary>The path, for the summary.</summary>
    string Describe();
}
