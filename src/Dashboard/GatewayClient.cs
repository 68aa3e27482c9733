using Akka.Actor;
using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>
/// Asks this node's gateway actor what the CLI asks it through ClusterClient, from web requests:
/// always asynchronously, so no actor and no request thread ever waits on another.
/// </summary>
public sealed class GatewayClient(IActorRef gateway)
{
    /// <summary>Sends <paramref name="request"/> and returns the reply, which must be a <typeparamref name="TReply"/>.</summary>
    /// <exception cref="GatewayRefusedException">The gateway answered with a <see cref="ControlError"/>, or did not answer in time.</exception>
    public async Task<TReply> AskAsync<TReply>(IControlRequest request, TimeSpan timeout, CancellationToken cancel = default)
    {
        object reply;
        try
        {
            reply = await gateway.Ask<object>(request, timeout, cancel);
        }
        catch (AskTimeoutException)
        {
            throw new GatewayRefusedException(new ControlError(
                $"the node did not answer {request.GetType().Name} for '{request.Name}' within {timeout.TotalSeconds:0.#} s", ControlErrorKind.Unavailable));
        }
        return reply switch
        {
            TReply wanted => wanted,
            ControlError error => throw new GatewayRefusedException(error),
            _ => throw new GatewayRefusedException(new ControlError(
                $"unexpected reply {reply.GetType().Name} to {request.GetType().Name}", ControlErrorKind.Unavailable)),
        };
    }
}
