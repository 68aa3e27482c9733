#!/usr/bin/env python3
"""How long the kernel takes to end a killed process before its peer sees its TCP connection close, and what it
depends on. Linux's do_exit frees the address space (exit_mm) and the files' last references (a memfd's pages are
freed when its file goes) before the sockets close: a survivor waiting for the reset waits for all of that.

  kill-teardown.py synthetic SIZES RUNS   processes that touch SIZES MiB (comma-separated) of anonymous memory in
                                          4 KiB pages, in transparent huge pages, and of a memfd (shared memory)
  kill-teardown.py node RUNS [NAME=ENV ...] lockstep nodes (a one-node cluster each, no VM) started with each ENV
                                          (KEY=VALUE,KEY=VALUE; "-" for none), killed in turn

As root, the victim's threads and this process run SCHED_FIFO for the kill, so that a loaded machine's run queue
does not stand between the kill and the close: what is timed is the kernel's work. Otherwise the times include waiting
for a CPU (said in the output). Prints min / median / max per kind, with the victim's resident memory.
"""
import mmap, os, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REALTIME = os.geteuid() == 0


def realtime(pid=0):
    if not REALTIME:
        return
    tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")] if pid else [0]
    for tid in tids:
        try:
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(10 if pid else 20))
        except ProcessLookupError:
            pass


def memory(pid):
    fields = {l.split(":")[0]: l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith(("VmRSS", "RssAnon", "RssFile", "RssShmem"))}
    mib = {k: int(v) // 1024 for k, v in fields.items()}
    return f"RSS {mib['VmRSS']} MiB (anonymous {mib['RssAnon']}, file {mib['RssFile']}, shared {mib['RssShmem']})"


def kill_and_time(pid, peer):
    """SIGKILL, then the time until the peer's end of the victim's connection reads its close."""
    realtime(pid)
    realtime()
    t0 = time.perf_counter()
    os.kill(pid, 9)
    try:
        peer.recv(1)
    except ConnectionResetError:
        pass
    dt = (time.perf_counter() - t0) * 1000
    if REALTIME:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return dt


def synthetic_child(kind, size, port, ready):
    length = size << 20
    if kind == "memfd":
        fd = os.memfd_create("teardown")
        os.ftruncate(fd, length)
        m = mmap.mmap(fd, length, flags=mmap.MAP_SHARED)
    else:
        m = mmap.mmap(-1, length, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        m.madvise(mmap.MADV_HUGEPAGE if kind == "anon-THP" else mmap.MADV_NOHUGEPAGE)
    for at in range(0, length, 4096):
        m[at] = 1
    s = socket.create_connection(("127.0.0.1", port))
    os.write(ready, b"x")
    time.sleep(3600)


def synthetic(sizes, runs):
    for kind in ("anon-4K", "anon-THP", "memfd"):
        for size in sizes:
            times, rss = [], ""
            for _ in range(runs):
                listener = socket.create_server(("127.0.0.1", 0))
                port = listener.getsockname()[1]
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    listener.close()
                    synthetic_child(kind, size, port, w)
                    os._exit(0)
                peer, _ = listener.accept()
                os.read(r, 1)
                rss = memory(pid)
                times.append(kill_and_time(pid, peer))
                os.waitpid(pid, 0)
                for x in (peer, listener):
                    x.close()
                os.close(r); os.close(w)
            print(f"{kind:8} {size:5} MiB touched, {rss}: closed after min {min(times):.1f}, median {statistics.median(times):.1f}, max {max(times):.1f} ms")


def node(runs, settings, base_port=5760):
    dll = os.path.join(ROOT, ".build/host/lockstep.dll")
    times = {name: [] for name, _ in settings}
    rss = {}
    with tempfile.TemporaryDirectory(prefix="lockstep-teardown-") as work:
        for r in range(runs):
            for i, (name, env) in enumerate(settings):
                port = base_port + i
                log = os.path.join(work, f"{name}-{r}.log")
                e = dict(os.environ, **env)
                cwd = os.path.join(work, f"{name}-{r}")  # its own ./data (the node's storage)
                os.mkdir(cwd)
                with open(log, "w") as out:
                    p = subprocess.Popen(["dotnet", dll, "node", "--host", "127.0.0.1", "--port", str(port), "--seeds", f"127.0.0.1:{port}"],
                                         stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=e)
                deadline = time.time() + 90
                while f"to [Up]" not in open(log).read():
                    if time.time() > deadline or p.poll() is not None:
                        p.kill(); sys.exit(f"kill-teardown: node {name} not Up; see {log}")
                    time.sleep(0.2)
                time.sleep(3)  # settled: the cluster's singletons and sharding started
                peer = socket.create_connection(("127.0.0.1", port))
                time.sleep(0.2)
                rss[name] = memory(p.pid)
                times[name].append(kill_and_time(p.pid, peer))
                p.wait()
                peer.close()
                print(f"  run {r + 1} {name}: {times[name][-1]:.1f} ms, {rss[name]}", flush=True)
    for name, _ in settings:
        t = times[name]
        print(f"{name:12} closed after min {min(t):.1f}, median {statistics.median(t):.1f}, max {max(t):.1f} ms; {rss[name]}")


def main():
    print(f"load average {' '.join(open('/proc/loadavg').read().split()[:3])}; "
          + ("victim and timer SCHED_FIFO for the kill" if REALTIME else "not root: normal priority (times include waiting for a CPU)"))
    if len(sys.argv) >= 4 and sys.argv[1] == "synthetic":
        synthetic([int(x) for x in sys.argv[2].split(",")], int(sys.argv[3]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "node":
        specs = sys.argv[3:] or ["default=-"]
        settings = []
        for spec in specs:
            name, _, env = spec.partition("=")
            settings.append((name, {} if env in ("", "-") else dict(kv.split("=", 1) for kv in env.split(","))))
        node(int(sys.argv[2]), settings)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
