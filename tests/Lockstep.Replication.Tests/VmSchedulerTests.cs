using System.Diagnostics;
using Lockstep.Replication.Scheduling;

namespace Lockstep.Replication.Tests;

/// <summary>
/// The node's VM threads with stand-in VMs (counting steps), so that what the scheduler promises is
/// checked apart from any guest: progress for many on few threads, nothing for a VM that waits,
/// a wake never lost nor doubled, fairness to a VM behind busy ones, deadlines.
/// </summary>
public sealed class VmSchedulerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public void Many_vms_on_two_threads_all_finish_their_work()
    {
        using var scheduler = new VmScheduler(2);
        const int vms = 64, steps = 200;
        var counts = new int[vms];
        using var allDone = new CountdownEvent(vms);
        for (int i = 0; i < vms; i++)
        {
            int me = i;
            scheduler.Add($"vm{me}", () =>
            {
                if (++counts[me] < steps) return VmStep.RunAgain;
                allDone.Signal();
                return VmStep.Finished;
            }).Start();
        }
        Assert.True(allDone.Wait(Patience), $"VMs still short of {steps} steps: {string.Join(", ", counts.Where(c => c < steps))}");
        Assert.All(counts, c => Assert.Equal(steps, c));
    }

    [Fact]
    public void A_vm_waiting_with_nothing_pending_is_not_stepped_while_others_run()
    {
        using var scheduler = new VmScheduler(2);
        int idleSteps = 0;
        using var stepped = new SemaphoreSlim(0);
        var idle = scheduler.Add("idle", () =>
        {
            Interlocked.Increment(ref idleSteps);
            stepped.Release();
            return VmStep.Wait;
        });
        // Busy neighbours keep both threads turning (and looking at the queue and the deadlines) meanwhile.
        using var stop = new CancellationTokenSource();
        long busySteps = 0;
        for (int i = 0; i < 2; i++)
        {
            scheduler.Add($"busy{i}", () =>
            {
                Interlocked.Increment(ref busySteps);
                Thread.SpinWait(200);
                return stop.IsCancellationRequested ? VmStep.Finished : VmStep.RunAgain;
            }).Start();
        }
        var sleeper = scheduler.Add("sleeper", () => stop.IsCancellationRequested ? VmStep.Finished : VmStep.SleepFor(TimeSpan.FromMilliseconds(5)));
        sleeper.Start();

        idle.Start();
        Assert.True(stepped.Wait(Patience), "the first step never ran");
        long busyBefore = Interlocked.Read(ref busySteps);
        Thread.Sleep(300);
        Assert.Equal(1, Volatile.Read(ref idleSteps));
        Assert.True(Interlocked.Read(ref busySteps) > busyBefore, "the busy VMs made no progress, so the idle period proves nothing");

        idle.Wake();
        Assert.True(stepped.Wait(Patience), "the wake never ran the VM");
        Assert.Equal(2, Volatile.Read(ref idleSteps));
        stop.Cancel();
    }

    [Fact]
    public void Wakes_before_start_are_ignored_and_the_first_step_runs_on_start()
    {
        using var scheduler = new VmScheduler(1);
        int steps = 0;
        using var stepped = new SemaphoreSlim(0);
        var vm = scheduler.Add("vm", () =>
        {
            Interlocked.Increment(ref steps);
            stepped.Release();
            return VmStep.Wait;
        });
        vm.Wake();
        Assert.False(stepped.Wait(TimeSpan.FromMilliseconds(100)));
        vm.Start();
        Assert.True(stepped.Wait(Patience));
        Assert.Equal(1, Volatile.Read(ref steps));
    }

    [Fact]
    public void A_wake_while_the_step_runs_runs_it_again_once()
    {
        using var scheduler = new VmScheduler(2);
        using var inside = new ManualResetEventSlim(false);
        using var release = new ManualResetEventSlim(false);
        using var stepped = new SemaphoreSlim(0);
        int steps = 0;
        var vm = scheduler.Add("vm", () =>
        {
            if (Interlocked.Increment(ref steps) == 1)
            {
                inside.Set();
                release.Wait();
            }
            stepped.Release();
            return VmStep.Wait;
        });
        vm.Start();
        Assert.True(inside.Wait(Patience));
        for (int i = 0; i < 5; i++) vm.Wake(); // all while the first step runs: one more step, not five
        release.Set();
        Assert.True(stepped.Wait(Patience));
        Assert.True(stepped.Wait(Patience), "the wake during the step was lost");
        Assert.False(stepped.Wait(TimeSpan.FromMilliseconds(200)), "more steps than wakes could need");
        Assert.Equal(2, Volatile.Read(ref steps));
    }

    [Fact]
    public void No_two_threads_are_ever_inside_one_vms_step()
    {
        using var scheduler = new VmScheduler(4);
        const int vms = 3;
        var inside = new int[vms];
        var steps = new int[vms];
        int overlaps = 0;
        var handles = new ScheduledVm[vms];
        for (int i = 0; i < vms; i++)
        {
            int me = i;
            handles[me] = scheduler.Add($"vm{me}", () =>
            {
                if (Interlocked.Increment(ref inside[me]) != 1) Interlocked.Increment(ref overlaps);
                Thread.SpinWait(500);
                Interlocked.Decrement(ref inside[me]);
                // Now and then a VM asks to run again or sleeps briefly, so every path back into the queue is taken.
                int n = Interlocked.Increment(ref steps[me]);
                return (n % 7) switch
                {
                    0 => VmStep.RunAgain,
                    3 => VmStep.SleepFor(TimeSpan.FromMilliseconds(1)),
                    _ => VmStep.Wait,
                };
            });
            handles[me].Start();
        }
        var wakers = Enumerable.Range(0, 4).Select(w => new Thread(() =>
        {
            for (int i = 0; i < 20_000; i++) handles[(i + w) % vms].Wake();
        })).ToList();
        wakers.ForEach(t => t.Start());
        wakers.ForEach(t => t.Join());
        Assert.All(steps, s => Assert.True(s > 10, $"only {s} steps ran"));
        Assert.Equal(0, Volatile.Read(ref overlaps));
    }

    [Fact]
    public void A_busy_guest_does_not_starve_another_vms_requests()
    {
        // One thread and three VMs that never stop: a request can only be served if the queue is fair.
        using var scheduler = new VmScheduler(1);
        using var stop = new CancellationTokenSource();
        for (int i = 0; i < 3; i++)
            scheduler.Add($"busy{i}", () =>
            {
                Thread.SpinWait(2_000);
                return stop.IsCancellationRequested ? VmStep.Finished : VmStep.RunAgain;
            }).Start();
        using var answered = new SemaphoreSlim(0);
        var server = scheduler.Add("server", () =>
        {
            answered.Release();
            return VmStep.Wait;
        });
        server.Start();
        Assert.True(answered.Wait(Patience), "the server's first step never ran");
        for (int request = 0; request < 50; request++)
        {
            server.Wake();
            Assert.True(answered.Wait(Patience), $"request {request} never got a slice");
        }
        stop.Cancel();
    }

    [Fact]
    public void A_deadline_wakes_a_sleeping_vm_and_not_before()
    {
        using var scheduler = new VmScheduler(2);
        long deadline = 0, ranAt = 0;
        using var woke = new ManualResetEventSlim(false);
        int steps = 0;
        scheduler.Add("sleeper", () =>
        {
            if (Interlocked.Increment(ref steps) == 1)
            {
                deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20;
                return VmStep.SleepUntil(deadline);
            }
            ranAt = Stopwatch.GetTimestamp();
            woke.Set();
            return VmStep.Wait;
        }).Start();
        Assert.True(woke.Wait(Patience), "the deadline never woke the VM");
        Assert.True(ranAt >= deadline, "the VM ran before its deadline");
        Assert.Equal(2, Volatile.Read(ref steps));
    }

    [Fact]
    public void A_nearer_deadline_fires_while_a_thread_sleeps_toward_a_later_one()
    {
        // One idle thread keeps time toward the hour-long deadline; the other runs the second VM, whose
        // nearer deadline must still fire.
        using var scheduler = new VmScheduler(2);
        scheduler.Add("late", () => VmStep.SleepFor(TimeSpan.FromHours(1))).Start();
        Thread.Sleep(50);
        using var woke = new ManualResetEventSlim(false);
        int steps = 0;
        scheduler.Add("soon", () =>
        {
            if (Interlocked.Increment(ref steps) == 1) return VmStep.SleepFor(TimeSpan.FromMilliseconds(20));
            woke.Set();
            return VmStep.Wait;
        }).Start();
        Assert.True(woke.Wait(Patience), "the nearer deadline never fired");
    }

    [Fact]
    public void A_wake_before_the_deadline_runs_the_vm_early_and_the_old_deadline_does_not_run_it_again()
    {
        using var scheduler = new VmScheduler(1);
        int steps = 0;
        using var stepped = new SemaphoreSlim(0);
        var vm = scheduler.Add("vm", () =>
        {
            int n = Interlocked.Increment(ref steps);
            stepped.Release();
            return n == 1 ? VmStep.SleepFor(TimeSpan.FromMilliseconds(100)) : VmStep.Wait;
        });
        vm.Start();
        Assert.True(stepped.Wait(Patience));
        vm.Wake();
        Assert.True(stepped.Wait(Patience));
        Thread.Sleep(300); // past the first deadline: its timer entry is stale and must not step the VM
        Assert.Equal(2, Volatile.Read(ref steps));
    }

    [Fact]
    public void A_step_that_throws_ends_that_vm_only()
    {
        using var scheduler = new VmScheduler(1);
        var broken = scheduler.Add("broken", () => throw new InvalidOperationException("guest bug"));
        broken.Start();
        using var stepped = new ManualResetEventSlim(false);
        scheduler.Add("healthy", () =>
        {
            stepped.Set();
            return VmStep.Wait;
        }).Start();
        Assert.True(stepped.Wait(Patience), "the thread did not survive the other VM's exception");
        Assert.True(SpinWait.SpinUntil(() => broken.IsFinished, Patience));
        Assert.IsType<InvalidOperationException>(broken.Failure);
        broken.Wake(); // ignored: it never runs again
    }

    [Fact]
    public void Dispose_still_runs_what_was_woken_just_before()
    {
        var scheduler = new VmScheduler(1);
        int steps = 0;
        using var first = new ManualResetEventSlim(false);
        var vm = scheduler.Add("vm", () =>
        {
            Interlocked.Increment(ref steps);
            first.Set();
            return VmStep.Wait;
        });
        vm.Start();
        Assert.True(first.Wait(Patience));
        vm.Wake(); // a stop command posted as the node shuts down
        scheduler.Dispose();
        Assert.Equal(2, Volatile.Read(ref steps));
        Assert.Throws<ObjectDisposedException>(() => scheduler.Add("late", () => VmStep.Finished));
    }

    [Fact]
    public void Bad_use_is_refused_clearly()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new VmScheduler(0));
        using var scheduler = new VmScheduler(1);
        var vm = scheduler.Add("vm", () => VmStep.Wait);
        vm.Start();
        Assert.Throws<InvalidOperationException>(vm.Start);
    }
}
