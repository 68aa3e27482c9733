using System.Text;
using System.Text.RegularExpressions;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Tests;

/// <summary>
/// `vm console` over a real cluster: a follower reading the chatter guest's steady console through a kill of
/// the primary's node sees every line once, in order, and the new primary holds the same bytes at the same offsets.
/// </summary>
[Collection("cluster")]
public sealed class ConsoleTests
{
    private static byte[] Chatter => File.ReadAllBytes(RepoRoot.Guest("chatter"));

    /// <summary>Asks on and on from where the last chunk ended, whichever node answers, as `vm console --follow` does.</summary>
    private sealed class Follower
    {
        private readonly InProcessCluster _cluster;
        private readonly ConsoleCursor _cursor = new("chatter");
        private readonly StringBuilder _text = new();
        private readonly Thread _thread;
        private volatile bool _stop;

        public Follower(InProcessCluster cluster)
        {
            _cluster = cluster;
            _thread = new Thread(Follow) { IsBackground = true };
            _thread.Start();
        }

        public ulong Skipped { get; private set; }
        public int WentBack { get; private set; }
        public Exception? Failure { get; private set; }

        public string Text { get { lock (_text) return _text.ToString(); } }

        public int Lines => Regex.Matches(Text, "\n").Count;

        private void Follow()
        {
            try
            {
                while (!_stop)
                {
                    object reply;
                    try
                    {
                        reply = _cluster.Ask<object>(_cursor.Request(), TimeSpan.FromSeconds(2));
                    }
                    catch (TimeoutException)
                    {
                        continue; // a node is failing over
                    }
                    if (reply is ControlError { Kind: ControlErrorKind.Unavailable })
                    {
                        Thread.Sleep(50);
                        continue;
                    }
                    var step = _cursor.Take(Assert.IsType<ConsoleChunk>(reply));
                    Skipped += step.Skipped;
                    if (step.WentBackTo is not null) WentBack++;
                    lock (_text) _text.Append(Encoding.ASCII.GetString(step.Data));
                    if (step.CaughtUp) Thread.Sleep(20);
                }
            }
            catch (Exception e)
            {
                Failure = e;
            }
        }

        public void Stop()
        {
            _stop = true;
            Assert.True(_thread.Join(TimeSpan.FromSeconds(30)), "the follower did not stop");
        }
    }

    private static void AssertConsecutiveLines(string text)
    {
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length - 1; i++) Assert.Equal($"chatter line {i + 1}", lines[i]);
        Assert.StartsWith(lines[^1], $"chatter line {lines.Length}"); // the last one may still be being written
    }

    [Fact]
    public void A_follower_sees_every_console_line_once_through_a_kill_of_the_primary_node()
    {
        using var cluster = new InProcessCluster(5800, 3);
        Assert.IsType<ControlOk>(cluster.Ask<object>(new CreateVm("chatter", Chatter, 16 * 1024 * 1024), TimeSpan.FromSeconds(15)));
        var before = cluster.WaitForProtected("chatter");
        var follower = new Follower(cluster);
        InProcessCluster.WaitUntil(() => follower.Lines >= 50, TimeSpan.FromSeconds(30), "the follower did not see 50 lines");
        int linesBefore = follower.Lines;

        cluster.Kill(cluster.IndexOf(before.Primary!));
        var after = cluster.WaitForProtected("chatter", before.Generation + 1);
        Assert.Equal(before.Secondary, after.Primary);
        InProcessCluster.WaitUntil(() => follower.Lines >= linesBefore + 200, TimeSpan.FromSeconds(30), "the follower saw no new lines after the failover");
        follower.Stop();

        Assert.Null(follower.Failure);
        Assert.Equal(0UL, follower.Skipped);
        Assert.Equal(0, follower.WentBack);
        string followed = follower.Text;
        AssertConsecutiveLines(followed);
        // The new primary holds the stream from the start of the run (it fits the ring): the same bytes at the same offsets.
        var whole = Assert.IsType<ConsoleChunk>(cluster.Ask<object>(new GetConsole("chatter", From: 0)));
        Assert.Equal(0UL, whole.Start);
        Assert.StartsWith(followed, Encoding.ASCII.GetString(whole.Data));
    }

    [Fact]
    public void The_console_of_an_unknown_vm_is_refused_clearly()
    {
        using var cluster = new InProcessCluster(5810, 1);
        var reply = Assert.IsType<ControlError>(cluster.Ask<object>(new GetConsole("nope")));
        Assert.Equal(ControlErrorKind.UnknownVm, reply.Kind);
        Assert.Contains("nope", reply.Message);
    }
}
