using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Lockstep.Host.Bench;

/// <summary>The reference: a raw loopback TCP round trip of a small message, measured here and now.</summary>
public static class TcpEcho
{
    public static Percentiles RoundTrips(int count, int size = 32)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = Task.Run(() =>
        {
            using var socket = listener.AcceptSocket();
            socket.NoDelay = true;
            var buffer = new byte[size];
            for (int i = 0; i < count; i++)
            {
                int got = 0;
                while (got < size) got += socket.Receive(buffer, got, size - got, SocketFlags.None);
                socket.Send(buffer);
            }
        });
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var message = new byte[size];
        var samples = new List<double>(count);
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            client.Send(message);
            int got = 0;
            while (got < size) got += client.Receive(message, got, size - got, SocketFlags.None);
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        server.Wait();
        return new Percentiles(samples);
    }
}
