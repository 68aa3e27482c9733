#!/usr/bin/env bash
# Idle CPU of protected VMs: NODES real nodes (default 2, a node pair), the nodes' CPU over 10 s with no
# VM, then N idle kv VMs created and Protected, then their CPU over 10 s again. Prints both next to each
# other and the difference per VM, in per cent of one core (utime+stime from /proc/PID/stat).
#   usage: bench/idle-cpu.sh [N] [nodes] [base-port]
set -euo pipefail
count="${1:-50}"
nodes="${2:-2}"
base="${3:-4910}"
source "$(dirname "$0")/lib.sh"
bench_init idle-cpu
specs=()
for i in $(seq 0 $((nodes - 1))); do specs+=("127.0.0.1:$((base + i))"); done
bench_start_cluster "${specs[@]}"
contacts="$(bench_contacts)"
sleep 20  # past the start-up JIT: sooner, the empty nodes measured busier than with 50 VMs

empty=$(bench_cpu 10 "${bench_pids[@]}")
echo "nodes: $nodes, idle with no VM: ${empty}% of a core (all nodes together, over 10 s)"
started=$(bench_now)
for i in $(seq 1 "$count"); do
  "${lockstep[@]}" vm create "idle$i" --image "$bench_root/guests/bin/kv.elf" --contact "$contacts" --contact-timeout 60 >/dev/null
done
protected=0
for _ in $(seq 1 240); do
  # Each primary logs "NAME is Protected" when its secondary holds the state (once per VM unless one was lost).
  protected=$(cat node*.log | grep -o "idle[0-9]* is Protected" | sort -u | wc -l)
  [[ "$protected" -ge "$count" ]] && break
  sleep 1
done
echo "created $count VMs in $(bench_since "$started") s; Protected: $protected"
sleep 10  # the last re-protections and journal checkpoints settle
for round in 1 2; do
  busy=$(bench_cpu 10 "${bench_pids[@]}")
  awk -v e="$empty" -v b="$busy" -v n="$count" -v r="$round" 'BEGIN {
    printf "with %d idle protected kv VMs (sample %d): %.2f%% of a core; per VM over the empty nodes: %.3f%%, all of it counted against the VMs: %.3f%% (target < 0.05)\n", n, r, b, (b - e) / n, b / n }'
done
