using Lockstep.Engine.Cpu;
using Lockstep.Engine.Loading;
using Lockstep.Engine.Recording;
using Lockstep.Host.Debugging;

namespace Lockstep.Debugger.Tests;

/// <summary>
/// One recorded kv run, made with `lockstep record --net-input` as a user would, shared by the
/// tests of a class: PUTs that insert new keys (each takes an entry from the free list) mixed
/// with GETs and INCRs.
/// </summary>
public sealed class KvRecording : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("lockstep-debugger-").FullName;

    public KvRecording()
    {
        var requests = new List<string>();
        for (int i = 1; i <= 24; i++)
        {
            requests.Add($"{i} PUT key{i % 7} value{i}");
            requests.Add($"{100 + i} GET key{i % 5}");
            if (i % 4 == 0) requests.Add($"{200 + i} INCR counter");
        }
        string input = Path.Combine(_folder, "requests.txt");
        File.WriteAllLines(input, requests);
        LogPath = Path.Combine(_folder, "kv.log");
        // Spaced widely enough that packets arrive while the guest waits (and so through its interrupt, which
        // the trap tests need), even when a loaded machine slows the guest's start: at 3 ms, every packet had
        // arrived before the first wait in one run at load 25, and no trap was recorded.
        var recorded = LockstepProgram.Run("record", Image, "--log", LogPath, "--net-input", input, "--net-spacing-ms", "12");
        if (recorded.ExitCode != 0) throw new InvalidOperationException($"recording kv failed: {recorded.Stderr}");
        (_, Segments) = LogFile.Read(LogPath);
        Symbols = ElfSymbols.Read(File.ReadAllBytes(Image));
    }

    public static string Image => LockstepProgram.Guest("kv");

    public string LogPath { get; }
    public string Folder => _folder;
    public List<LogSegment> Segments { get; }
    public IReadOnlyDictionary<string, uint> Symbols { get; }

    /// <summary>A machine at the start of the recording, replaying it.</summary>
    public Machine NewReplay(out RecordedInputs inputs, bool translate = true)
    {
        inputs = new RecordedInputs(Segments);
        var machine = new Machine(MemoryMap.DefaultRamSize, inputs.FromStart()) { UseTranslator = translate };
        ElfLoader.Load(machine, File.ReadAllBytes(Image));
        return machine;
    }

    public Timeline NewTimeline(ulong checkpointInterval, List<MachineOutput>? shown = null)
    {
        var machine = NewReplay(out var inputs);
        return new Timeline(machine, inputs, o => shown?.Add(o), checkpointInterval);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
