using System.Text;
using Lockstep.Actors.Protocol;

namespace Lockstep.Dashboard;

/// <summary>
/// A piece of a VM's released console as JSON (GET /api/vm/NAME/console, and each event of its stream).
/// <see cref="Text"/> is the bytes decoded as UTF-8 (a character cut between two pieces shows as U+FFFD);
/// <see cref="Base64"/> is the bytes exactly.
/// </summary>
/// <param name="Skipped">Bytes between the reader's offset and <see cref="Start"/> that are no longer kept.</param>
/// <param name="Next">The offset to ask from next (<c>?from=</c>); before <see cref="Start"/> when the stream went back.</param>
public sealed record ConsoleDocument(string Vm, ulong KeptFrom, ulong Start, ulong End, ulong Next, ulong Skipped, string Text, string Base64)
{
    public static ConsoleDocument From(ConsoleChunk chunk, ConsoleStep step) =>
        new(chunk.Name, chunk.KeptFrom, chunk.Start, chunk.End, step.WentBackTo ?? chunk.Next, step.Skipped,
            Encoding.UTF8.GetString(chunk.Data), Convert.ToBase64String(chunk.Data));
}
