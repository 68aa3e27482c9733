using System.Runtime.InteropServices;

namespace Lockstep.Engine.Cpu;

/// <summary>
/// A zeroed block of native memory that the OS commits page by page on first write: on Linux an
/// anonymous private mapping without swap reservation, so that a guest's untouched RAM (and the
/// decode cache of pages that never ran code) costs address space only. Reads of a page never
/// written see zeroes without committing it. Elsewhere it is plain zeroed native memory.
/// </summary>
/// <remarks>
/// Freed by the finalizer: the machine holding it hands its address to compiled code as a constant,
/// so it must live exactly as long as the machine, which is what the machine's reference ensures.
/// </remarks>
internal sealed unsafe partial class GuestMemory
{
    private const int ProtRead = 1, ProtWrite = 2;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    private const int MadvDontNeed = 4, MadvNoHugePage = 15;
    private const int OsPage = 4096;

    private static readonly bool Mapped = OperatingSystem.IsLinux();

    public GuestMemory(nuint length)
    {
        Length = length;
        if (Mapped)
        {
            nint address = Mmap(0, length, ProtRead | ProtWrite, MapPrivate | MapAnonymous | MapNoReserve, -1, 0);
            if (address == -1) throw new OutOfMemoryException($"cannot map {length} bytes of guest memory (errno {Marshal.GetLastPInvokeError()})");
            // A huge page would commit 2 MiB at the first write to any of its bytes.
            _ = Madvise(address, length, MadvNoHugePage);
            Pointer = (byte*)address;
        }
        else Pointer = (byte*)NativeMemory.AllocZeroed(length);
    }

    /// <summary>Committed memory reported to the GC (which otherwise sees none of it), in steps of this many pages.</summary>
    private const int PressureStep = 256;
    private long _pressure;

    ~GuestMemory()
    {
        NoteCommitted(0);
        if (Mapped) _ = Munmap((nint)Pointer, Length);
        else NativeMemory.Free(Pointer);
    }

    /// <summary>
    /// Tells the GC how much of the block is in use (<paramref name="pages"/> pages of 4 KiB), so that
    /// machines dropped with much memory written get collected as soon as managed arrays of that size would.
    /// </summary>
    public void NoteCommitted(int pages)
    {
        long pressure = (long)(pages / PressureStep) * PressureStep * OsPage;
        if (pressure > _pressure) GC.AddMemoryPressure(pressure - _pressure);
        else if (pressure < _pressure) GC.RemoveMemoryPressure(_pressure - pressure);
        _pressure = pressure;
    }

    public byte* Pointer { get; }
    public nuint Length { get; }

    /// <summary>Zeroes a range, giving its whole OS pages back where the OS allows it (they read zero afterwards).</summary>
    public void Zero(nuint offset, nuint length)
    {
        if (length == 0) return;
        nuint first = (offset + OsPage - 1) & ~(nuint)(OsPage - 1), last = (offset + length) & ~(nuint)(OsPage - 1);
        if (!Mapped || last <= first || Madvise((nint)(Pointer + first), last - first, MadvDontNeed) != 0)
        {
            NativeMemory.Clear(Pointer + offset, length);
            return;
        }
        NativeMemory.Clear(Pointer + offset, first - offset);
        NativeMemory.Clear(Pointer + last, offset + length - last);
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap")]
    private static partial int Munmap(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Madvise(nint address, nuint length, int advice);
}
