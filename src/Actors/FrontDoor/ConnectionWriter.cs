using System.Collections.Concurrent;
using Lockstep.Replication.FrontDoor;

namespace Lockstep.Actors.FrontDoor;

/// <summary>
/// One TCP connection's answers, written in order on a thread of their own: a write blocks while the client does not
/// read (up to the door's send timeout), and the port's actor, which serves every other client of the port on this node,
/// must not wait for it. At most <see cref="MaxUnwritten"/> answers wait here; <see cref="Offer"/> refuses one more, and
/// the owner then ends the connection (<see cref="Finish"/>) with a last line.
/// </summary>
internal sealed class ConnectionWriter
{
    /// <summary>Answers waiting to be written to one connection; beyond it the client is not reading them.</summary>
    public const int MaxUnwritten = 1024;

    private readonly BlockingCollection<byte[]> _answers = new(new ConcurrentQueue<byte[]>());
    private readonly TcpDoor _door;
    private readonly long _connection;
    private readonly Action<string> _failed;
    private readonly Action _finished;
    private int _unwritten;
    private byte[]? _last;
    private volatile bool _abandoned;

    /// <param name="failed">Called on the writer's thread when a write failed (the door has closed the connection); nothing more is written.</param>
    /// <param name="finished">Called on the writer's thread once <see cref="Finish"/>'s last line is written or could not be.</param>
    public ConnectionWriter(TcpDoor door, long connection, Action<string> failed, Action finished)
    {
        _door = door;
        _connection = connection;
        _failed = failed;
        _finished = finished;
        new Thread(Write) { IsBackground = true, Name = $"tcp-door-{door.LocalEndPoint.Port}-{connection}-out" }.Start();
    }

    /// <summary>Queues an answer; false (and nothing queued) when <see cref="MaxUnwritten"/> wait already or the writer finishes.</summary>
    public bool Offer(byte[] answer)
    {
        if (_answers.IsAddingCompleted) return false;
        if (Interlocked.Increment(ref _unwritten) > MaxUnwritten)
        {
            Interlocked.Decrement(ref _unwritten);
            return false;
        }
        _answers.Add(answer);
        return true;
    }

    /// <summary>Writes what waits, then <paramref name="last"/> if given, then calls the finished callback. Idempotent.</summary>
    public void Finish(byte[]? last)
    {
        if (_answers.IsAddingCompleted) return;
        _last = last;
        _answers.CompleteAdding();
    }

    /// <summary>The connection is gone: nothing more is written, the callbacks are not called.</summary>
    public void Abandon()
    {
        _abandoned = true;
        _answers.CompleteAdding();
    }

    private void Write()
    {
        foreach (var answer in _answers.GetConsumingEnumerable())
        {
            Interlocked.Decrement(ref _unwritten);
            if (_abandoned) return;
            if (_door.Write(_connection, answer) is { } why)
            {
                _failed(why);
                return;
            }
        }
        if (_abandoned) return;
        if (_last is not null) _door.Write(_connection, _last);
        _finished();
    }
}
