using System.Threading.Channels;
using Akka.Actor;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// Hands every message it receives to plain code through a channel. It is the sender of requests whose
/// answers keep coming (VM packets), which a one-shot Ask cannot receive.
/// </summary>
public sealed class InboxActor(ChannelWriter<object> sink) : UntypedActor
{
    protected override void OnReceive(object message) => sink.TryWrite(message);
}
