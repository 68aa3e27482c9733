#!/usr/bin/env python3
"""The client of bench/door-gap.sh: plain sockets through the front door, as any program would talk to a VM.

A UDP client sends one INCR at a time to a node's address and, without an answer after 50 ms, sends the
same request (same id) to the next node's address; a TCP client keeps one connection to one node and never
resends (the front door has to make up for a failover). Both stamp every answer on arrival. Once both are
answered steadily the fault comes (this process sends the signal, so its moment is known exactly); the
longest silence each client saw that began within 3 s of the fault is the failover gap (with the moment it ended, which
tells the takeover from the re-protection that follows it), printed next to the normal gap between
answers before the fault. Every answer is checked: request i of a stream must be answered i (each INCR
executed exactly once).
With a kill, an idle TCP connection to the victim's own front door times the kernel ending the killed process: the
moment the victim's sockets close (what the survivors' loops wait for), printed with the victim's memory at the kill
(resident anonymous, file-backed and shared memory: the kernel frees the address space before it closes the files).
  usage: door_client.py PORT HOSTS UDP_START TCP_HOST VICTIM_PID SIGNAL [VICTIM_HOST] [BEFORE] [AFTER]
"""
import os
import signal
import socket
import sys
import threading
import time

RESEND = 0.05


def udp_stream(port, hosts, start, key, count, stamps, answers, stop):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    at, resends = start, 0
    for i in range(1, count + 1):
        if stop.is_set():
            break
        request = f"u{i} INCR {key}".encode()
        sock.sendto(request, (hosts[at], port))
        while True:
            sock.settimeout(RESEND)
            try:
                data, _ = sock.recvfrom(65536)
            except socket.timeout:
                at = (at + 1) % len(hosts)  # the next node's address, the same request id
                resends += 1
                sock.sendto(request, (hosts[at], port))
                continue
            except ConnectionRefusedError:
                continue  # an ICMP "port unreachable" for an earlier send (a node that died): wait on
            rid, _, value = data.decode().partition(" ")
            if rid != f"u{i}":
                continue  # a late answer to an earlier request (its resend was answered too): dropped
            stamps.append(time.time())
            answers.append(value)
            break
        # The first request warms the path (a fresh VM, routes being learned) and is often resent: the client must still
        # be at the node the run means when the fault comes, not at the next one (in kill-secondary, the victim).
        if i == 1:
            at = start
        time.sleep(0.002)
    return resends


def tcp_stream(port, host, key, count, stamps, answers, stop, errors):
    try:
        sock = socket.create_connection((host, port), timeout=30)
        reader = sock.makefile("rb")
        for i in range(1, count + 1):
            if stop.is_set():
                break
            sock.sendall(f"t{i} INCR {key}\n".encode())
            while True:
                line = reader.readline()
                if not line:
                    raise ConnectionError("the front door closed the connection")
                rid, _, value = line.decode().rstrip("\n").partition(" ")
                if rid == f"t{i}":
                    break
            stamps.append(time.time())
            answers.append(value)
            time.sleep(0.002)
        sock.close()
    except Exception as e:  # a reset or a timeout is a result here: reported, the run fails
        errors.append(f"TCP to {host}: {type(e).__name__}: {e}")


WINDOW = 3.0


def victim_memory(pid):
    """The victim's resident memory at the fault, MiB: anonymous (heap, guest memory), file-backed (the mapped
    assemblies and libraries), shared (the runtime's double-mapped code), and its threads."""
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else ""
    mib = lambda key: f"{int(fields.get(key, 0)) / 1024:.0f}"
    return (f"victim_rss_mib={mib('VmRSS')} victim_anon_mib={mib('RssAnon')} victim_file_mib={mib('RssFile')} "
            f"victim_shmem_mib={mib('RssShmem')} victim_threads={fields.get('Threads', '?')}")


class teardown_probe:
    """An idle TCP connection to the victim's front door, read on a thread of its own: it ends when the kernel closes
    the victim's sockets."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.settimeout(None)
        self.ended = None
        self.thread = threading.Thread(target=self.wait, daemon=True)
        self.thread.start()

    def wait(self):
        try:
            self.sock.recv(1)
        except OSError:
            pass  # a reset: closed as well
        self.ended = time.time()

    def closed_after(self, t_fault):
        self.thread.join(10)
        return (self.ended - t_fault) * 1000 if self.ended else float("nan")


def gap(stamps, t_fault):
    """In ms: the longest silence that began within WINDOW s of the fault and ended after it (the takeover, and a new
    secondary's first acks, which gate the outputs again; a silence that begins later is the loaded machine's, not the
    fault's), when it ended counted from the fault, and the normal spacing of answers before the fault (p50)."""
    nan = float("nan")
    before = sorted(stamps[i] - stamps[i - 1] for i in range(1, len(stamps)) if stamps[i] < t_fault)
    after = [(stamps[i] - stamps[i - 1], stamps[i] - t_fault) for i in range(1, len(stamps))
             if stamps[i] >= t_fault and stamps[i - 1] <= t_fault + WINDOW]
    worst = max(after) if after else (nan, nan)
    return worst[0] * 1000, worst[1] * 1000, before[len(before) // 2] * 1000 if before else nan


def across(stamps, t_fault):
    """In ms: the silence that spans the fault itself (the last answer before it to the first after), apart from a later
    one (a re-protection's pause) that the longest silence may be."""
    last = max((t for t in stamps if t < t_fault), default=None)
    first = min((t for t in stamps if t >= t_fault), default=None)
    return (first - last) * 1000 if last is not None and first is not None else float("nan")


def clock(t):
    """A wall-clock moment as the nodes' log lines print it (UTC), to put a client's silence beside them."""
    return "-" if t != t else time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def exact(answers):
    wrong = [(i + 1, a) for i, a in enumerate(answers) if a != str(i + 1)]
    return "yes" if not wrong else f"NO: {wrong[:5]}"


def main():
    port, hosts = int(sys.argv[1]), sys.argv[2].split(",")
    udp_start, tcp_host, victim, sig = int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6]
    victim_host = sys.argv[7] if len(sys.argv) > 7 else ""
    before = int(sys.argv[8]) if len(sys.argv) > 8 else 100
    after = int(sys.argv[9]) if len(sys.argv) > 9 else 300
    count = before + after + 2000  # stops after `after` answers past the fault; the extra is headroom
    stop = threading.Event()
    udp_stamps, udp_answers, tcp_stamps, tcp_answers, errors, result = [], [], [], [], [], {}
    udp = threading.Thread(target=lambda: result.setdefault("resends", udp_stream(port, hosts, udp_start, "cu", count, udp_stamps, udp_answers, stop)))
    tcp = threading.Thread(target=tcp_stream, args=(port, tcp_host, "ct", count, tcp_stamps, tcp_answers, stop, errors))
    udp.start()
    tcp.start()
    deadline = time.time() + 60
    while (len(udp_answers) < before or len(tcp_answers) < before) and not errors and time.time() < deadline:
        time.sleep(0.01)
    if errors or len(udp_answers) < before or len(tcp_answers) < before:
        stop.set()
        print(f"door_client: not answered steadily before the fault (UDP {len(udp_answers)}, TCP {len(tcp_answers)} answers) {errors}", file=sys.stderr)
        sys.exit(1)
    signal_number = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}[sig]
    probe = teardown_probe(victim_host, port) if victim_host and signal_number == signal.SIGKILL else None
    memory = victim_memory(victim)
    t_fault = time.time()
    os.kill(victim, signal_number)
    closed = probe.closed_after(t_fault) if probe else float("nan")
    u0, t0 = len(udp_answers), len(tcp_answers)
    if signal_number == signal.SIGSTOP:
        # The stopped node comes back 2 s later (the client has gone on by far more than the 64 request ids kv
        # remembers): what its socket held meanwhile must not run again.
        threading.Timer(2.0, lambda: os.kill(victim, signal.SIGCONT)).start()
    deadline = time.time() + 60
    while (len(udp_answers) < u0 + after or len(tcp_answers) < t0 + after) and not errors and time.time() < deadline:
        time.sleep(0.01)
    stop.set()
    udp.join(5)
    tcp.join(5)
    udp_gap, udp_ended, udp_normal = gap(udp_stamps, t_fault)
    tcp_gap, tcp_ended, tcp_normal = gap(tcp_stamps, t_fault)
    fault_at = clock(t_fault)
    print(f"fault_at={fault_at} udp_gap_ms={udp_gap:.0f} udp_gap_ended_ms={udp_ended:.0f} udp_normal_ms={udp_normal:.1f} udp_answers={len(udp_answers)} udp_resends={result.get('resends', '?')} "
          f"udp_exact={exact(udp_answers).replace(' ', '')} udp_silent_from={clock(t_fault + (udp_ended - udp_gap) / 1000)} "
          f"tcp_silent_from={clock(t_fault + (tcp_ended - tcp_gap) / 1000)} tcp_gap_ms={tcp_gap:.0f} tcp_gap_ended_ms={tcp_ended:.0f} tcp_normal_ms={tcp_normal:.1f} "
          f"tcp_answers={len(tcp_answers)} tcp_exact={exact(tcp_answers).replace(' ', '')} tcp_errors={len(errors)} "
          f"victim_closed_ms={closed:.1f} {memory} udp_at_fault_ms={across(udp_stamps, t_fault):.0f} tcp_at_fault_ms={across(tcp_stamps, t_fault):.0f}")
    for e in errors:
        print(f"door_client: {e}", file=sys.stderr)
    ok = not errors and exact(udp_answers) == "yes" and exact(tcp_answers) == "yes" and len(udp_answers) >= u0 + after and len(tcp_answers) >= t0 + after
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
