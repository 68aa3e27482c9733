# Sourced by the bench scripts that run real nodes (scale.sh, idle-cpu.sh, idle-nodes.sh): the program, node
# processes on this machine (killed when the script exits, however it exits), and what /proc says about them.
#   source "$(dirname "$0")/lib.sh"; bench_init NAME   (then bench_start_cluster HOST:PORT..., bench_cpu 10, ...)
# Not for scripts that start no nodes.

bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
lockstep=(dotnet "$bench_root/.build/host/lockstep.dll")
bench_pids=()     # the nodes, in the order started (the seed first)
bench_nodes=()    # their HOST:PORT
bench_keep="${BENCH_KEEP:-0}"  # 1: keep the working folder (the node logs) at the end (BENCH_KEEP=1: also after a run that passed)
bench_name=bench
bench_work=""

# Builds the program once if needed, makes the working folder (node logs) and goes there; the nodes are killed on exit.
bench_init() {
  bench_name="$1"
  "$bench_root/lockstep" --help >/dev/null
  bench_work="$(mktemp -d "/tmp/lockstep-$bench_name-XXXXXX")"
  cd "$bench_work"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# A process and everything it started (a background `vm create` under `timeout`, say), by pid.
bench_kill_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do bench_kill_tree "$child"; done
  kill -TERM "$1" 2>/dev/null || true
}

bench_cleanup() {
  local p tries
  for p in $(jobs -p); do bench_kill_tree "$p"; done
  for p in "${bench_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${bench_pids[@]}"; do
    for tries in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  if (( bench_keep )); then echo "$bench_name: node logs kept in $bench_work" >&2; else rm -rf "$bench_work"; fi
}

# A failure: the message on stderr, the logs kept, exit 1.
bench_fail() { echo "$bench_name: $*" >&2; bench_keep=1; exit 1; }

bench_now() { date +%s.%N; }
# Seconds since a bench_now, to two decimals.
bench_since() { awk -v a="$1" -v b="$(bench_now)" 'BEGIN { printf "%.2f", b - a }'; }

# Starts one node per HOST:PORT, the first as the seed, each waited for until the seed's leader has it Up
# (a minute each at most: a loaded machine starts .NET slowly). Logs: node0.log, node1.log, ...
bench_start_cluster() {
  local seed="$1" spec i
  for spec in "$@"; do
    i=${#bench_pids[@]}
    "${lockstep[@]}" node --host "${spec%%:*}" --port "${spec##*:}" --seeds "$seed" > "node$i.log" 2>&1 &
    bench_pids+=($!)
    disown $!  # no "Killed" line from bash when a benchmark kills a node on purpose
    bench_nodes+=("$spec")
    bench_wait_up "$spec" 60
  done
}

bench_wait_up() {
  local spec="$1" deadline=$((SECONDS + $2)) i
  until grep -q "Leader is moving node \[akka.tcp://lockstep@$spec\] to \[Up\]" node0.log 2>/dev/null; do
    for i in "${!bench_pids[@]}"; do kill -0 "${bench_pids[$i]}" 2>/dev/null || bench_fail "node $i exited on its own; see node$i.log"; done
    (( SECONDS < deadline )) || bench_fail "node $spec not Up within $2 s; see node0.log"
    sleep 0.2
  done
}

# The nodes as --contact takes them.
bench_contacts() { (IFS=,; echo "${bench_nodes[*]}"); }

# CPU time (utime + stime, clock ticks) of the given processes together.
bench_ticks() {
  local p t=0
  for p in "$@"; do t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat"))); done
  echo "$t"
}

# Resident memory (VmRSS, KiB) of the given processes together.
bench_rss() { awk '/^VmRSS:/ { t += $2 } END { print t }' $(printf '/proc/%s/status ' "$@"); }

# Threads of each given process, space-separated.
bench_threads() { local p; for p in "$@"; do ls "/proc/$p/task" | wc -l; done | paste -sd' '; }

# Per cent of one core the given processes used together over SECONDS of wall time.
bench_cpu() {
  local seconds="$1"; shift
  local a b t0 t1
  t0=$(bench_now); a=$(bench_ticks "$@")
  sleep "$seconds"
  b=$(bench_ticks "$@"); t1=$(bench_now)
  awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.3f", (b - a) / hz / (t1 - t0) * 100 }'
}

# Per cent of one core each given process used over SECONDS, space-separated.
bench_cpu_each() {
  local seconds="$1"; shift
  local p out=()
  local -a before=()
  for p in "$@"; do before+=("$(bench_ticks "$p")"); done
  sleep "$seconds"
  local i=0
  for p in "$@"; do
    out+=("$(awk -v a="${before[$i]}" -v b="$(bench_ticks "$p")" -v hz="$(getconf CLK_TCK)" -v s="$seconds" 'BEGIN { printf "%.1f", (b - a) / hz / s * 100 }')")
    i=$((i + 1))
  done
  echo "${out[*]}"
}

bench_load() { cut -d' ' -f1-3 /proc/loadavg; }
