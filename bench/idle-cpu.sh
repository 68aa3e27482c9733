#!/usr/bin/env bash
# Idle CPU of protected VMs: NODES real nodes (default 2, a node pair), the nodes' CPU over 10 s with no
# VM, then N idle kv VMs created and Protected, then their CPU over 10 s again. Prints both next to each
# other and the difference per VM, in per cent of one core (utime+stime from /proc/PID/stat).
#   usage: bench/idle-cpu.sh [N] [nodes] [base-port]
set -euo pipefail
count="${1:-50}"
nodes="${2:-2}"
base="${3:-4910}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/lockstep-idle-XXXXXX)"
lockstep=(dotnet "$root/.build/host/lockstep.dll")
"$root/lockstep" --help >/dev/null  # build once
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
contacts=""
for i in $(seq 0 $((nodes - 1))); do
  "${lockstep[@]}" node --port $((base + i)) --seeds 127.0.0.1:$base > node$i.log 2>&1 &
  pids+=($!)
  contacts="${contacts:+$contacts,}127.0.0.1:$((base + i))"
done
sleep 30  # joined, and past the start-up JIT: sooner, the empty nodes measured busier than with 50 VMs

ticks() { local t=0; for p in "${pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
hz=$(getconf CLK_TCK)
sample() {
  local a b
  a=$(ticks); sleep 10; b=$(ticks)
  python3 -c "print(f'{($b - $a) / $hz / 10 * 100:.2f}')"
}

empty=$(sample)
echo "nodes: $nodes, idle with no VM: ${empty}% of a core (all nodes together, over 10 s)"
started=$(date +%s.%N)
for i in $(seq 1 "$count"); do
  "${lockstep[@]}" vm create "idle$i" --image "$root/guests/bin/kv.elf" --contact "$contacts" >/dev/null
done
protected=0
for _ in $(seq 1 240); do
  # Each primary logs "NAME is Protected" when its secondary holds the state (once per VM unless one was lost).
  protected=$(cat node*.log | grep -o "idle[0-9]* is Protected" | sort -u | wc -l)
  [[ "$protected" -ge "$count" ]] && break
  sleep 1
done
echo "created $count VMs in $(python3 -c "import time; print(f'{time.time() - $started:.0f}')") s; Protected: $protected"
sleep 10  # the last re-protections and journal checkpoints settle
for round in 1 2; do
  busy=$(sample)
  python3 -c "
e, b, n = $empty, $busy, $count
print(f'with {n} idle protected kv VMs (sample $round): {b:.2f}% of a core; per VM over the empty nodes: {(b - e) / n:.3f}%, all of it counted against the VMs: {b / n:.3f}% (target < 0.05)')"
done
