#!/usr/bin/env python3
"""Measurements for bench/scale.sh: the state of every VM from `vm list --json`, the failover run over the front
door (plain UDP, as any client would), and the figures against the issue's targets. (/proc is read by bench/lib.sh.)"""
import json
import re
import os
import select
import signal
import socket
import sys
import time

def cmd_states(path, expected, avoid):
    """Exit 0 when the list has `expected` VMs, all Protected and none with a side on `avoid`; prints a one-line summary."""
    vms = json.load(open(path))
    counts = {}
    for vm in vms:
        counts[vm["state"]] = counts.get(vm["state"], 0) + 1
    done = len(vms) == expected and all(
        vm["state"] == "Protected" and vm["primary"] != avoid and vm["secondary"] != avoid and vm["primary"] != vm["secondary"]
        for vm in vms)
    print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))))
    sys.exit(0 if done else 1)


def cmd_placement(path):
    """Primaries and secondaries per node, and the node with the most primaries (last line)."""
    vms = json.load(open(path))
    nodes = sorted({vm["primary"] for vm in vms} | {vm["secondary"] for vm in vms} - {None})
    for node in nodes:
        p = sum(1 for vm in vms if vm["primary"] == node)
        s = sum(1 for vm in vms if vm["secondary"] == node)
        print(f"  {node}: {p} primaries, {s} secondaries", file=sys.stderr)
    print(max(nodes, key=lambda n: sum(1 for vm in vms if vm["primary"] == n)))


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p / 100 * len(sorted_values)))]


class Asker:
    """One UDP client (one guest peer) of one VM: one request at a time, sent again to the next address after `resend` s."""

    def __init__(self, port, hosts, resend):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port, self.hosts, self.resend = port, hosts, resend
        self.pending = None  # (id, payload, sent_at, host index)
        self.next_host = 0

    def ask(self, rid, command, now):
        self.pending = (rid, f"{rid} {command}".encode(), now, self.next_host)
        self._send(now)

    def _send(self, now):
        rid, payload, _, _ = self.pending
        host = self.hosts[self.next_host % len(self.hosts)]
        try:
            self.sock.sendto(payload, (host, self.port))
        except OSError:
            pass  # a dead node's address: the next resend goes elsewhere
        self.pending = (rid, payload, now, self.next_host)

    def tick(self, now):
        if self.pending and now - self.pending[2] >= self.resend:
            self.next_host += 1
            self._send(now)

    def receive(self):
        """The answers that arrived: (id, rest of the line)."""
        out = []
        while True:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, ConnectionRefusedError):
                return out
            parts = data.decode(errors="replace").strip().split(" ", 1)
            out.append((parts[0], parts[1] if len(parts) > 1 else ""))


def pump(askers, timeout):
    socks = {a.sock: a for a in askers}
    readable, _, _ = select.select(list(socks), [], [], timeout)
    return [socks[s] for s in readable]


def cmd_failover(n, vmport, hosts, victim_host, victim_pid, sample, answer_timeout, kill_file):
    survivors = [h for h in hosts if h != victim_host]
    # Every VM answers once before the kill (this also opens every front door route).
    probes = [Asker(vmport + i, hosts, 0.1) for i in range(n)]
    start = time.monotonic()
    for a in probes:
        a.ask("p1", "INCR probe", start)
    waiting = set(range(n))
    while waiting:
        now = time.monotonic()
        if now - start > answer_timeout:
            fail(f"{len(waiting)} VMs did not answer before the kill (e.g. vm{min(waiting)} on port {vmport + min(waiting)})")
        for a in pump([probes[i] for i in waiting], 0.02):
            if any(rid == "p1" for rid, _ in a.receive()):
                a.pending = None
                waiting.discard(probes.index(a))
        for i in waiting:
            probes[i].tick(now)
    print(f"every VM answered before the kill ({time.monotonic() - start:.2f} s for all {n})", file=sys.stderr)
    for a in probes:
        a.hosts = survivors  # after the kill the probes resend to the nodes that are left

    # Request streams to a sample of VMs, across the kill: INCR c with ids s1, s2, ...; answer k must be k.
    step = max(1, n // sample)
    streams = {i: Asker(vmport + i, hosts, 0.05) for i in range(0, n, step)}
    answers = {i: [] for i in streams}  # (id number, value, answered at)
    resends = 0
    for i, a in streams.items():
        a.ask("s1", "INCR c", time.monotonic())
    t_kill = None
    answered_again = {}
    stop_new = None
    deadline = time.monotonic() + 2 + answer_timeout + 30
    while True:
        now = time.monotonic()
        if now > deadline:
            fail("the failover run did not finish in time")
        if t_kill is None and now - start > 0 and all(len(v) >= 20 for v in answers.values()):
            os.kill(victim_pid, signal.SIGKILL)
            t_kill = time.monotonic()
            with open(kill_file, "w") as f:
                f.write(f"{time.time():.3f}\n")
            for a in probes:
                a.ask("p2", "INCR probe", t_kill)
        if t_kill is not None and len(answered_again) < n and now - t_kill > answer_timeout:
            missing = sorted(set(range(n)) - set(answered_again))
            fail(f"{len(missing)} VMs did not answer within {answer_timeout} s of the kill (e.g. vm{missing[0]})")
        if stop_new is None and t_kill is not None and len(answered_again) == n:
            stop_new = now + 2
        live = [a for a in list(streams.values()) + (probes if t_kill else []) if a.pending]
        if stop_new is not None and now > stop_new and not any(a.pending for a in streams.values()):
            break
        for a in pump(live or [probes[0]], 0.01):
            for rid, rest in a.receive():
                if a in probes and rid == "p2" and a.pending and a.pending[0] == "p2":
                    answered_again[probes.index(a)] = time.monotonic() - t_kill
                    a.pending = None
                elif a in streams.values() and a.pending and rid == a.pending[0]:
                    i = next(k for k, v in streams.items() if v is a)
                    k = int(rid[1:])
                    answers[i].append((k, rest, time.monotonic()))
                    a.pending = None
                    if stop_new is None or time.monotonic() < stop_new:
                        a.ask(f"s{k + 1}", "INCR c", time.monotonic())
        now = time.monotonic()
        for a in live:
            before = a.next_host
            a.tick(now)
            if a in streams.values() and a.next_host != before:
                resends += 1

    # Exactly once: answers s1..sK with values 1..K, each id once (repeats of an answered id are dropped above).
    bad = []
    total = 0
    worst_gap = 0.0
    for i, rows in answers.items():
        total += len(rows)
        values = [r[1] for r in rows]
        wrong = next((j for j, v in enumerate(values) if v != str(j + 1)), None)
        if wrong is not None:
            bad.append(f"vm{i}: s{rows[wrong][0]} answered {values[wrong]!r} (after {values[max(0, wrong - 2):wrong]}), "
                       f"{(rows[wrong][2] - t_kill) * 1000:+.0f} ms from the kill")
        times = [r[2] for r in rows]
        worst_gap = max([worst_gap] + [b - a for a, b in zip(times, times[1:])])
    times = sorted(answered_again.values())
    print(f"kill -9 of {victim_host}: every VM answered again: p50 {percentile(times, 50) * 1000:.0f} ms, "
          f"p99 {percentile(times, 99) * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms (over {n} VMs, UDP to the surviving nodes, resent every 50 ms)")
    print(f"request streams to {len(streams)} VMs across the kill: {total} INCRs answered, {resends} resends, "
          f"longest wait for an answer {worst_gap * 1000:.0f} ms; exactly once: {'yes' if not bad else 'NO: ' + '; '.join(bad)}")
    sys.exit(0 if not bad else 1)


def cmd_targets(path, n, reprotected):
    """The figures of this run (figures.txt as scale.sh wrote it) against issue 12's targets at N = 1,000."""
    text = open(path).read()

    def number(pattern):
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    memory = number(r"([-\d.]+) MiB per VM")
    per_vm = number(r"([-\d.]+)% of a core per VM")
    total = number(r"([-\d.]+)% with \d+:")
    create = number(r"took ([\d.]+) s")
    answered = number(r"every VM answered again: .*max (\d+) ms")
    once = re.search(r"exactly once: (yes|NO)", text)

    def verdict(value, limit):
        return "not measured" if value is None else ("met" if value < limit else "NOT met")

    print(f"targets (issue 12, at N = 1,000; this run N = {n}):")
    print(f"  idle CPU per VM under 0.05% of a core: {per_vm}% -> {verdict(per_vm, 0.05)}")
    print(f"  all three nodes together under half a core: {total}% -> {verdict(total, 50)}")
    print(f"  resident memory per VM under 8 MiB (both sides): {memory} MiB -> {verdict(memory, 8)}")
    per_vm_create = None if create is None else create / n * 1000
    print(f"  a create of 1,000 in under a minute (60 ms per VM): {per_vm_create and round(per_vm_create)} ms per VM -> {verdict(per_vm_create, 60)}")
    print(f"  every VM answering again within 2 s of the kill: max {answered} ms -> {verdict(answered, 2000)}")
    print(f"  every VM Protected again within 30 s: {reprotected} s -> {verdict(reprotected, 30)}")
    print(f"  nothing acknowledged lost (sample streams exactly once): {once.group(1) if once else 'not measured'}")


LOG_TIME = re.compile(r"\]\[(\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):(\d\d\.\d+)Z\]")


def log_time(line):
    """Wall-clock seconds of an Akka log line ([LEVEL][MM/DD/YYYY HH:MM:SS.fffZ]...), or None."""
    m = LOG_TIME.search(line)
    if not m:
        return None
    import calendar
    month, day, year, hour, minute, second = m.groups()
    whole = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), 0))
    return whole + float(second)


def cmd_stages(kill_file, logs):
    """The failover by stage, from the survivors' logs: ms after the kill (p50 / max over the VMs that went through it)."""
    t_kill = float(open(kill_file).read().split()[0])
    stages = {  # stage -> {vm: ms after the kill}; the first line per VM (the latest per VM for the front doors)
        "link to the dead node seen down": {}, "secondary decided (claim asked)": {}, "secondary's claim won (launch)": {},
        "new primary live (announcing)": {}, "primary alone: claim won, outputs free": {},
        "every surviving front door routes to it": {}, "first packet to the new primary": {},
        "first answer through the new route": {}}
    patterns = [
        ("secondary decided (claim asked)", re.compile(r"\] (\S+): primary lost \(.*\); claiming generation"), min),
        ("secondary's claim won (launch)", re.compile(r"\] (\S+): .* is live as generation"), min),
        ("new primary live (announcing)", re.compile(r"\] (\S+): live as the primary of generation"), min),
        ("primary alone: claim won, outputs free", re.compile(r"\] (\S+): claimed generation \d+ .* going on alone"), min),
        ("every surviving front door routes to it", re.compile(r"front door (\S+) port \d+: routing to the primary on"), max),
        ("first packet to the new primary", re.compile(r"\] (\S+): the first packet to the new primary came"), min),
        ("first answer through the new route", re.compile(r"front door (\S+) port \d+: the first answer through the new route"), min),
    ]
    for index, path in enumerate(logs):
        for line in open(path, errors="replace"):
            t = log_time(line)
            if t is None or t < t_kill:
                continue
            ms = (t - t_kill) * 1000
            if "lockstep link" in line and " down: " in line:
                stages["link to the dead node seen down"].setdefault(f"node {index}", ms)
                continue
            for stage, pattern, pick in patterns:
                m = pattern.search(line)
                if m:
                    seen = stages[stage]
                    vm = m.group(1)
                    seen[vm] = pick(seen.get(vm, ms), ms)
                    break
    print("failover by stage (ms after the kill, from the survivors' logs; log times are when the line was written):")
    for stage, seen in stages.items():
        if not seen:
            print(f"  {stage}: none")
            continue
        values = sorted(seen.values())
        print(f"  {stage}: p50 {percentile(values, 50):.0f}, p99 {percentile(values, 99):.0f}, max {values[-1]:.0f} (over {len(values)})")


def fail(message):
    print(f"scale.sh: {message}", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
    verb, args = sys.argv[1], sys.argv[2:]
    if verb == "states":
        cmd_states(args[0], int(args[1]), args[2] if len(args) > 2 else None)
    elif verb == "placement":
        cmd_placement(args[0])
    elif verb == "targets":
        cmd_targets(args[0], int(args[1]), float(args[2]))
    elif verb == "stages":
        cmd_stages(args[0], args[1:])
    elif verb == "failover":
        cmd_failover(int(args[0]), int(args[1]), args[2].split(","), args[3], int(args[4]), int(args[5]), float(args[6]), args[7])
    else:
        fail(f"unknown verb {verb}")
