using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Lockstep.Replication.FrontDoor;

/// <summary>
/// Reads datagrams together with the moment the kernel took them in (Linux SO_TIMESTAMPNS), so that a front
/// door can tell a datagram that waited in its socket while the node was stalled (SIGSTOP, a long pause of
/// the process) from one that just came. Where the option is refused, <see cref="TryEnable"/> is false and
/// datagrams read come without an age; elsewhere than Linux the caller reads them the ordinary way.
/// </summary>
internal static unsafe partial class DatagramTimestamps
{
    private const int SolSocket = 1;
    private const int SoTimestampNs = 35; // the option, and the type of its control message (SCM_TIMESTAMPNS)
    private const int MsgTrunc = 0x20;
    private const int MsgDontWait = 0x40;
    private const int EIntr = 4, EAgain = 11, EConnRefused = 111;
    private const ushort AfInet = 2, AfInet6 = 10;

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Iov;
        public nuint IovLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static partial nint RecvMsg(int fd, MsgHdr* message, int flags);

    /// <summary>Asks the kernel to stamp each datagram's arrival; false where that cannot be had.</summary>
    public static bool TryEnable(Socket socket)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            socket.SetRawSocketOption(SolSocket, SoTimestampNs, BitConverter.GetBytes(1));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// Reads one datagram if the socket holds one, without waiting. Returns its full length (it may exceed the buffer,
    /// which then holds its start), or -1 when there was none; <paramref name="waited"/> is how long it sat in the
    /// socket before this read (zero without a stamp).
    /// </summary>
    /// <exception cref="SocketException">The socket failed.</exception>
    /// <exception cref="ObjectDisposedException">The socket was closed.</exception>
    public static int TryReceive(Socket socket, byte[] buffer, out IPEndPoint? from, out TimeSpan waited)
    {
        from = null;
        waited = TimeSpan.Zero;
        var handle = socket.SafeHandle;
        bool added = false;
        // Held while the descriptor is used, so a close from another thread cannot hand its number to a new file meanwhile.
        handle.DangerousAddRef(ref added);
        try
        {
            int fd = (int)handle.DangerousGetHandle();
            byte* name = stackalloc byte[128];
            byte* control = stackalloc byte[128];
            fixed (byte* data = buffer)
            {
                var iov = new IoVec { Base = data, Length = (nuint)buffer.Length };
                var message = new MsgHdr { Name = name, NameLength = 128, Iov = &iov, IovLength = 1, Control = control, ControlLength = 128 };
                nint length = RecvMsg(fd, &message, MsgDontWait | MsgTrunc);
                if (length < 0)
                {
                    int error = Marshal.GetLastPInvokeError();
                    // Nothing (left), or an ICMP "port unreachable" for an earlier answer: the door is fine.
                    if (error is EAgain or EIntr or EConnRefused) return -1;
                    throw new SocketException(error);
                }
                from = Address(name);
                waited = Waited(&message);
                return from is null ? -1 : (int)length;
            }
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    private static IPEndPoint? Address(byte* name)
    {
        ushort family = *(ushort*)name;
        int port = name[2] << 8 | name[3];
        return family switch
        {
            AfInet => new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(name + 4, 4)), port),
            AfInet6 => new IPEndPoint(new IPAddress(new ReadOnlySpan<byte>(name + 8, 16), *(uint*)(name + 24)), port),
            _ => null,
        };
    }

    private static TimeSpan Waited(MsgHdr* message)
    {
        // cmsghdr: a size_t length, an int level, an int type, then the data; each aligned to a size_t.
        byte* at = (byte*)message->Control;
        byte* end = at + (long)message->ControlLength;
        while (at + 16 <= end)
        {
            long length = (long)*(nuint*)at;
            if (length < 16) break;
            if (*(int*)(at + 8) == SolSocket && *(int*)(at + 12) == SoTimestampNs && length >= 32)
            {
                long seconds = *(long*)(at + 16), nanoseconds = *(long*)(at + 24);
                long arrivedTicks = DateTime.UnixEpoch.Ticks + seconds * TimeSpan.TicksPerSecond + nanoseconds / 100;
                long waitedTicks = DateTime.UtcNow.Ticks - arrivedTicks;
                return waitedTicks > 0 ? TimeSpan.FromTicks(waitedTicks) : TimeSpan.Zero;
            }
            at += (length + 7) & ~7L;
        }
        return TimeSpan.Zero;
    }
}
