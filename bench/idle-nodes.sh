#!/usr/bin/env bash
# Threads and idle CPU of real nodes holding N idle protected kv VMs: three local nodes, N VMs
# created one after another and waited for until Protected, then per node its thread count
# (/proc/PID/task) and the CPU it used over 10 s while every VM sat idle.
#   usage: bench/idle-nodes.sh [vms] [base-port]
set -euo pipefail
vms="${1:-20}"
base="${2:-4910}"
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
for i in 0 1 2; do
  "${lockstep[@]}" node --port $((base + i)) --seeds 127.0.0.1:$base > node$i.log 2>&1 &
  pids+=($!)
done
contacts="127.0.0.1:$base,127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2))"
sleep 8
threads() { for p in "${pids[@]}"; do ls "/proc/$p/task" | wc -l; done | paste -sd' '; }
echo "threads per node before any VM: $(threads)"
for v in $(seq 1 "$vms"); do
  "${lockstep[@]}" vm create "idle$v" --image "$root/guests/bin/kv.elf" --contact "$contacts" >/dev/null
done
protected=0
for v in $(seq 1 "$vms"); do
  for _ in $(seq 1 120); do
    if "${lockstep[@]}" vm status "idle$v" --json --contact "$contacts" 2>/dev/null | grep -q '"state": *"Protected"'; then
      protected=$((protected + 1))
      break
    fi
    sleep 0.5
  done
done
echo "Protected: $protected of $vms VMs"
sleep 5
ticks() { for p in "${pids[@]}"; do awk '{print $14 + $15}' "/proc/$p/stat"; done | paste -sd' '; }
before="$(ticks)"
sleep 10
after="$(ticks)"
echo "threads per node with $vms idle protected VMs: $(threads)"
python3 - "$before" "$after" "$(getconf CLK_TCK)" "$vms" <<'PY'
import sys
b = [int(x) for x in sys.argv[1].split()]; a = [int(x) for x in sys.argv[2].split()]
hz = int(sys.argv[3]); vms = int(sys.argv[4])
cpu = [(y - x) / hz / 10 * 100 for x, y in zip(b, a)]
print("idle CPU per node over 10 s: " + ", ".join(f"{c:.1f}%" for c in cpu) + f" of a core; {sum(cpu) / vms:.2f}% per VM (all nodes)")
PY
