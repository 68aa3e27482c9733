#!/usr/bin/env bash
# Client-visible failover gap: three real nodes, a kv VM under a steady stream of INCR requests
# (one at a time), the primary's node killed with SIGKILL (or frozen with SIGSTOP, `stop`; or, `switchover`,
# nothing killed: `vm migrate --primary` to the secondary's node, a planned switchover).
# Prints the longest silence the client saw next to the normal gap between answers in the same
# run, checks that every INCR was answered once with values counting up by one, and reports the
# re-protection figures from `vm status`.
#   usage: bench/failover-gap.sh [kill|stop|switchover] [base-port]
set -euo pipefail
mode="${1:-kill}"
base="${2:-4810}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/lockstep-gap-XXXXXX)"
lockstep=(dotnet "$root/.build/host/lockstep.dll")
"$root/lockstep" --help >/dev/null  # build once
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
for i in 0 1 2; do
  "${lockstep[@]}" node --port $((base + i)) --seeds 127.0.0.1:$base > node$i.log 2>&1 &
  pids+=($!)
done
contacts="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
sleep 8
# On a loaded machine the nodes can take much longer to form the cluster: wait until it answers (up to a minute more).
for _ in $(seq 1 30); do "${lockstep[@]}" vm list --contact "$contacts" >/dev/null 2>&1 && break; sleep 2; done
"${lockstep[@]}" vm create gap --image "$root/guests/bin/kv.elf" --contact "$contacts" >/dev/null
for _ in $(seq 1 60); do
  "${lockstep[@]}" vm status gap --json --contact "$contacts" 2>/dev/null | grep -q '"state": *"Protected"' && break
  sleep 0.5
done
status_json() { "${lockstep[@]}" vm status gap --json --contact "$contacts"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
primary="$(status_json | field primary)"
secondary="$(status_json | field secondary)"
victim_index=$(( ${primary##*:} - base ))
victim_pid="${pids[$victim_index]}"

# Requests go one at a time, so the answers' spacing is the service's own pace; each answer is stamped on arrival,
# by one process reading the lines as they come (a `date` started per line fell behind on a loaded machine: up to
# ~190 answers, a second, late, so the stamps showed gaps where there were none and hid where they were).
(for i in $(seq 1 600); do echo "$i INCR n"; sleep 0.005; done) |
  "${lockstep[@]}" vm send gap --peer 1 --retry-ms 150 --contact "$contacts" |
  python3 -u -c 'import sys, time
for line in sys.stdin: print(f"{time.time():.6f} {line}", end="", flush=True)' > answers.txt &
client=$!
# The fault comes once the client is answered steadily (its start takes seconds on a loaded machine).
for _ in $(seq 1 300); do [[ -f answers.txt && $(wc -l < answers.txt) -ge 100 ]] && break; sleep 0.1; done
t_fault="$(date +%s.%N)"
case "$mode" in
  stop) kill -STOP "$victim_pid" ;;
  switchover) "${lockstep[@]}" vm migrate gap --primary "$secondary" --contact "$contacts" ;;
  *) kill -9 "$victim_pid" ;;
esac
wait "$client"

python3 - "$t_fault" answers.txt "$mode" <<'PY'
import sys
t_fault = float(sys.argv[1])
label = "switchover" if sys.argv[3] == "switchover" else "failover"
rows = [l.split() for l in open(sys.argv[2]) if l.strip()]
times = [float(r[0]) for r in rows]; values = [int(r[2]) for r in rows]
gaps = [(times[i] - times[i-1]) * 1000 for i in range(1, len(times))]
before = sorted(g for i, g in enumerate(gaps) if times[i + 1] < t_fault)
after = [g for i, g in enumerate(gaps) if times[i + 1] >= t_fault]
worst = max(after)
print(f"answers: {len(rows)}; values 1..{values[-1]}; exact: {values == list(range(1, len(values) + 1))}")
print(f"normal gap between answers (before the fault): p50 {before[len(before)//2]:.1f} ms, max {before[-1]:.1f} ms")
print(f"client-visible {label} gap: {worst:.0f} ms")
PY
sleep 3
status_json | python3 -c '
import json,sys; s=json.load(sys.stdin)
print("after: state %s, generation %s, primary %s, secondary %s" % (s["state"], s["generation"], s["primary"], s["secondary"]))
for h in s.get("history", []): print("  failover:", h)'
grep -h "re-protection\|is Protected\|handed over\|took over\|is live as" node*.log | tail -6 || true
