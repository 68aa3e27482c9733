using System.Collections.Immutable;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Cluster.Tools.Client;
using Lockstep.Actors.Protocol;
using Lockstep.Actors.Security;

namespace Lockstep.Host.Cli.Client;

/// <summary>
/// A small ActorSystem outside the cluster that talks to the gateway actor of whichever node's
/// receptionist answers first. One per command; dispose it to shut the system down.
/// </summary>
public sealed class ControlClient : IDisposable
{
    // Sent with localAffinity: the gateway on the receptionist's own node answers. Otherwise the
    // mediator may pick a dead node's gateway, which stays registered until that node is removed.
    public const string GatewayPath = "/user/gateway";

    /// <summary>How long a command waits for the first sign of a live cluster, unless told otherwise (`--contact-timeout`).</summary>
    public static readonly TimeSpan ReachTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long a request may take once the cluster is known to be there (creating a VM takes a while).</summary>
    public static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan ShutdownWait = TimeSpan.FromSeconds(3);

    private readonly ActorSystem _system;
    private readonly IActorRef _clusterClient;
    private readonly ClusterTls? _tls;

    private ControlClient(ContactPoints contacts, ClusterTls? tls)
    {
        Contacts = contacts;
        _tls = tls;
        _system = ActorSystem.Create("lockstep-client", ClientConfig.Setup(tls));
        var settings = ClusterClientSettings.Create(_system).WithInitialContacts(contacts.Receptionists(ClusterTls.Protocol(tls)).ToImmutableHashSet());
        _clusterClient = _system.ActorOf(ClusterClient.Props(settings), "cluster-client");
    }

    public ContactPoints Contacts { get; }

    /// <summary>Starts the client and waits until the gateway of some node has answered.</summary>
    /// <param name="tls">The client's certificate and the cluster CA, for a cluster that runs over TLS; null for plain text.</param>
    /// <param name="reach">How long to wait for the first answer; null: <see cref="ReachTimeout"/>.</param>
    public static ControlClient Connect(ContactPoints contacts, ClusterTls? tls = null, TimeSpan? reach = null)
    {
        var client = new ControlClient(contacts, tls);
        try
        {
            client.Probe(reach ?? ReachTimeout);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>Sends a request and returns the reply, which must be a <typeparamref name="TReply"/>; a ControlError becomes a GatewayException.</summary>
    public TReply Ask<TReply>(IControlRequest request, TimeSpan? timeout = null)
    {
        var wait = timeout ?? ReplyTimeout;
        object reply;
        try
        {
            reply = _clusterClient.Ask<object>(new ClusterClient.Send(GatewayPath, request, localAffinity: true), wait).GetAwaiter().GetResult();
        }
        catch (AskTimeoutException)
        {
            throw new ClusterUnavailableException(
                $"the cluster at {Contacts} did not answer {request.GetType().Name} within {wait.TotalSeconds:0.#} s");
        }
        return reply switch
        {
            TReply wanted => wanted,
            ControlError error => throw new GatewayException(error.Message, error.Kind),
            _ => throw new GatewayException($"unexpected reply {reply.GetType().Name} to {request.GetType().Name}"),
        };
    }

    /// <summary>Sends a request whose replies, and any messages that follow, go to <paramref name="sender"/>.</summary>
    public void Tell(IControlRequest request, IActorRef sender) =>
        _clusterClient.Tell(new ClusterClient.Send(GatewayPath, request, localAffinity: true), sender);

    /// <summary>An actor whose messages come out of <paramref name="sink"/>; use it as the sender in <see cref="Tell"/>.</summary>
    public IActorRef CreateInbox(ChannelWriter<object> sink) =>
        _system.ActorOf(Props.Create(() => new InboxActor(sink)), "inbox");

    public void Dispose()
    {
        // The cluster does not need a goodbye; waiting longer would only delay the command's exit.
        try
        {
            _system.Terminate().Wait(ShutdownWait);
        }
        catch (AggregateException)
        {
        }
    }

    private void Probe(TimeSpan reach)
    {
        // Every actor answers Identify itself, so this proves a receptionist and the gateway behind it
        // are alive without depending on any request the gateway handles.
        object reply;
        try
        {
            reply = _clusterClient.Ask<object>(new ClusterClient.Send(GatewayPath, new Identify("probe"), localAffinity: true), reach)
                .GetAwaiter().GetResult();
        }
        catch (AskTimeoutException)
        {
            throw Unreachable(reach);
        }
        if (reply is not ActorIdentity { Subject: not null }) throw Unreachable(reach);
    }

    // Both sides' TLS refusals look alike from here: the handshake fails and nothing answers.
    private ClusterUnavailableException Unreachable(TimeSpan reach) => _tls is null
        ? new($"no cluster node answered at {Contacts} within {reach.TotalSeconds:0.#} s (is `lockstep node` running? if the cluster uses TLS, give --tls-cert)")
        : new($"no cluster node answered at {Contacts} over TLS within {reach.TotalSeconds:0.#} s (is `lockstep node` running, with a certificate of the same cluster CA as --tls-cert?)");
}
