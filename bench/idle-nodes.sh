#!/usr/bin/env bash
# Threads and idle CPU of real nodes holding N idle protected kv VMs: three local nodes, N VMs
# created one after another and waited for until Protected, then per node its thread count
# (/proc/PID/task) and the CPU it used over 10 s while every VM sat idle.
#   usage: bench/idle-nodes.sh [vms] [base-port]
set -euo pipefail
vms="${1:-20}"
base="${2:-4910}"
source "$(dirname "$0")/lib.sh"
bench_init idle-nodes
bench_start_cluster "127.0.0.1:$base" "127.0.0.1:$((base + 1))" "127.0.0.1:$((base + 2))"
contacts="$(bench_contacts)"
sleep 5
echo "threads per node before any VM: $(bench_threads "${bench_pids[@]}")"
for v in $(seq 1 "$vms"); do
  "${lockstep[@]}" vm create "idle$v" --image "$bench_root/guests/bin/kv.elf" --contact "$contacts" --contact-timeout 60 >/dev/null
done
protected=0
for v in $(seq 1 "$vms"); do
  for _ in $(seq 1 120); do
    if "${lockstep[@]}" vm status "idle$v" --json --contact "$contacts" --contact-timeout 60 2>/dev/null | grep -q '"state": *"Protected"'; then
      protected=$((protected + 1))
      break
    fi
    sleep 0.5
  done
done
echo "Protected: $protected of $vms VMs"
sleep 5
cpu=$(bench_cpu_each 10 "${bench_pids[@]}")
echo "threads per node with $vms idle protected VMs: $(bench_threads "${bench_pids[@]}")"
awk -v cpu="$cpu" -v vms="$vms" 'BEGIN {
  n = split(cpu, c, " "); line = "idle CPU per node over 10 s: "; t = 0
  for (i = 1; i <= n; i++) { line = line (i > 1 ? ", " : "") c[i] "%"; t += c[i] }
  printf "%s of a core; %.2f%% per VM (all nodes)\n", line, t / vms }'
