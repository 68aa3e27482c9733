using System.Net;
using System.Net.Sockets;

namespace Lockstep.Host.Debugging;

/// <summary>
/// Serves one gdb client over TCP: waits for the connection, answers its packets until it kills
/// the target, detaches or goes away. Bad input from the client never ends the session.
/// </summary>
public sealed class GdbServer : IDisposable
{
    private readonly TcpListener _listener;

    public GdbServer(IPEndPoint endpoint)
    {
        _listener = new TcpListener(endpoint);
        _listener.Start(1);
    }

    public IPEndPoint Endpoint => (IPEndPoint)_listener.LocalEndpoint;

    public void ServeOne(Timeline timeline, TextWriter log)
    {
        using var socket = _listener.AcceptSocket();
        socket.NoDelay = true;
        log.WriteLine($"gdb: connected from {socket.RemoteEndPoint}");
        var connection = new RspConnection(socket, GdbStub.PacketSize);
        var stub = new GdbStub(timeline, log);
        while (!stub.Finished)
        {
            var input = connection.Read();
            if (input.Closed) break;
            if (input.Interrupt) continue; // Ctrl-C while stopped: nothing is running
            connection.Send(stub.Handle(input.Packet!, connection.InterruptRequested));
        }
        log.WriteLine("gdb: session ended");
    }

    public void Dispose() => _listener.Stop();
}
