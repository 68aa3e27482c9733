using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Lockstep.Host.Bench;

/// <summary>The reference: a raw loopback TCP round trip of a small message, measured here and now.</summary>
public static class TcpEcho
{
    private const int Size = 32;

    /// <param name="echoCpu">Echo from a process pinned to this core, so the round trip crosses cores as the lockstep
    /// channel does when the secondary has a core of its own; null: echo from a thread of this process.</param>
    public static Percentiles RoundTrips(int count, int? echoCpu = null)
    {
        if (echoCpu is int cpu)
        {
            var (child, port) = PinnedChild.StartListening(cpu, "echo");
            try
            {
                return Measure(port, count);
            }
            finally
            {
                if (!child.WaitForExit(TimeSpan.FromSeconds(5))) child.Kill();
                child.Dispose();
            }
        }
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = Task.Run(() =>
        {
            using var socket = listener.AcceptSocket();
            Echo(socket);
        });
        var result = Measure(((IPEndPoint)listener.LocalEndpoint).Port, count);
        server.Wait();
        return result;
    }

    /// <summary>`lockstep bench echo`: prints its port, echoes one connection until it closes.</summary>
    public static int Serve()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Console.WriteLine(((IPEndPoint)listener.LocalEndpoint).Port);
        Console.Out.Flush();
        using var socket = listener.AcceptSocket();
        Echo(socket);
        return 0;
    }

    private static void Echo(Socket socket)
    {
        socket.NoDelay = true;
        var buffer = new byte[Size];
        while (true)
        {
            int got = 0;
            while (got < Size)
            {
                int n = socket.Receive(buffer, got, Size - got, SocketFlags.None);
                if (n == 0) return; // the measuring side is done
                got += n;
            }
            socket.Send(buffer);
        }
    }

    private static Percentiles Measure(int port, int count)
    {
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Connect(IPAddress.Loopback, port);
        var message = new byte[Size];
        var samples = new List<double>(count);
        for (int i = 0; i < count; i++)
        {
            long start = Stopwatch.GetTimestamp();
            client.Send(message);
            int got = 0;
            while (got < Size) got += client.Receive(message, got, Size - got, SocketFlags.None);
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        client.Shutdown(SocketShutdown.Both);
        return new Percentiles(samples);
    }
}
