using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Lockstep.Replication.FrontDoor;

/// <summary>
/// One thread that waits on every UDP front door of the process at once (Linux epoll, level-triggered) and lets
/// each readable door read a few datagrams in turn. A node exposing a thousand VMs had a thousand receiving
/// threads: a burst of one datagram per VM (clients resending after a failover) woke them all at once, and on two
/// cores datagrams then waited past the door's 200 ms age rule before their thread ran (bench/scale.sh 1000).
/// </summary>
internal sealed unsafe partial class DoorPoller
{
    private const int EpollCtlAdd = 1, EpollCtlDel = 2;
    private const uint EpollIn = 1;
    private const int EIntr = 4;
    private const int MaxEvents = 256;

    // struct epoll_event is packed on x86-64 (12 bytes: events, then data at 4) and naturally aligned elsewhere (16, data at 8).
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    private static readonly Lazy<DoorPoller> SharedPoller = new(() => new DoorPoller());

    /// <summary>The process's poller, started at its first use.</summary>
    public static DoorPoller Shared => SharedPoller.Value;

    /// <summary>Where the poller can run: elsewhere each door keeps a receiving thread of its own.</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    private readonly int _epoll;
    private readonly ConcurrentDictionary<ulong, Action> _readers = new();
    private long _nextId;

    private DoorPoller()
    {
        _epoll = EpollCreate1(0);
        if (_epoll < 0) throw new SocketException(Marshal.GetLastPInvokeError());
        new Thread(Run) { IsBackground = true, Name = "front-door-poller" }.Start();
    }

    /// <summary>
    /// Calls <paramref name="readable"/> on the poller's thread whenever the socket has a datagram, until <see cref="Remove"/>.
    /// It must read without blocking and return soon (at most a few datagrams: what is left makes it readable again after
    /// the other doors had their turn), and must not throw: that would end the process.
    /// </summary>
    /// <returns>The registration, for <see cref="Remove"/>.</returns>
    public ulong Add(Socket socket, Action readable)
    {
        ulong id = (ulong)Interlocked.Increment(ref _nextId);
        _readers[id] = readable;
        if (Control(EpollCtlAdd, socket, id) != 0)
        {
            int error = Marshal.GetLastPInvokeError();
            _readers.TryRemove(id, out _);
            throw new SocketException(error);
        }
        return id;
    }

    /// <summary>No more calls for this registration once it returns, except one that may be under way on the poller's thread.</summary>
    public void Remove(Socket socket, ulong id)
    {
        _readers.TryRemove(id, out _);
        try
        {
            _ = Control(EpollCtlDel, socket, id); // a socket closed already has left the set by itself
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private int Control(int operation, Socket socket, ulong id)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = EpollIn;
        *(ulong*)(ev + DataOffset) = id;
        var handle = socket.SafeHandle;
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            return EpollCtl(_epoll, operation, (int)handle.DangerousGetHandle(), ev);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    private void Run()
    {
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * EventSize));
        while (true)
        {
            int ready = EpollWait(_epoll, events, MaxEvents, -1);
            if (ready < 0)
            {
                if (Marshal.GetLastPInvokeError() == EIntr) continue;
                throw new SocketException(Marshal.GetLastPInvokeError()); // the epoll descriptor itself broke: nothing can go on
            }
            for (int i = 0; i < ready; i++)
            {
                ulong id = *(ulong*)(events + i * EventSize + DataOffset);
                if (_readers.TryGetValue(id, out var readable)) readable();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epoll, int operation, int fd, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWait(int epoll, byte* events, int maxEvents, int timeoutMs);
}
