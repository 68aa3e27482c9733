#!/usr/bin/env bash
# Client-visible failover gap through the front door, as a plain socket client sees it: three real nodes on
# 127.0.0.1, .2 and .3 binding the same ports, a kv VM exposed on VM-PORT of every node, and two clients of
# plain sockets (bench/door_client.py, no project code): UDP, one INCR at a time, resent after 50 ms to the
# next node's address; and TCP, one connection to a node that survives, never resending. Each run is a
# fresh cluster; the fault:
#   kill-primary    kill -9 of the primary's node (the UDP client starts at that node)
#   kill-secondary  kill -9 of the secondary's node (both clients at the third node)
#   stop-primary    SIGSTOP of the primary's node (the UDP client starts at that node), SIGCONT 2 s later
# Prints one line per run (the longest silence that began within 3 s of the fault, and when it ended) and min / median / max; every INCR must be answered exactly once.
#   usage: bench/door-gap.sh FAULT [RUNS] [NODE-PORT] [VM-PORT]
# DOOR_GAP_KEEP_LOGS=1 keeps every run's node logs (not only a failed run's), to read where the time went.
# DOOR_GAP_HOST=DIR runs another build's lockstep.dll (a copy of .build/host, for A/B series; set LOCKSTEP_HOCON to the
# hocon folder then, since a copy elsewhere does not find it).
set -euo pipefail
fault="${1:-}"
runs="${2:-10}"
port="${3:-5790}"
vmport="${4:-15790}"
case "$fault" in
  kill-primary|stop-primary|kill-secondary) ;;
  *) echo "usage: bench/door-gap.sh kill-primary|kill-secondary|stop-primary [RUNS] [NODE-PORT] [VM-PORT]" >&2; exit 64 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
lockstep=(dotnet "${DOOR_GAP_HOST:-$root/.build/host}/lockstep.dll")
hosts=(127.0.0.1 127.0.0.2 127.0.0.3)
contacts="127.0.0.1:$port,127.0.0.2:$port,127.0.0.3:$port"
[[ -n "${DOOR_GAP_HOST:-}" ]] || "$root/lockstep" --help >/dev/null  # build once
results="$(mktemp /tmp/lockstep-door-gap-XXXXXX.txt)"
pids=()
work=""
stop_nodes() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -9 "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
  pids=()
}
cleanup() { stop_nodes; [[ -n "$work" ]] && rm -rf "$work"; rm -f "$results"; }
trap cleanup EXIT

one_run() {
  work="$(mktemp -d /tmp/lockstep-door-gap-XXXXXX)"
  cd "$work"
  for i in 0 1 2; do
    "${lockstep[@]}" node --host "${hosts[$i]}" --port "$port" --seeds "127.0.0.1:$port" > "node$i.log" 2>&1 &
    pids+=($!)
    disown $!  # no "Killed" line from bash when a run kills a node on purpose
    local deadline=$((SECONDS + 60))
    until grep -q "Leader is moving node \[akka.tcp://lockstep@${hosts[$i]}:$port\] to \[Up\]" node0.log 2>/dev/null; do
      (( SECONDS < deadline )) || { echo "node ${hosts[$i]} not Up within 60 s" >&2; return 1; }
      sleep 0.2
    done
  done
  "${lockstep[@]}" vm create gap --image "$root/guests/bin/kv.elf" --expose "$vmport" --contact "$contacts" > /dev/null
  local status=""
  for _ in $(seq 1 120); do
    status="$("${lockstep[@]}" vm status gap --json --contact "$contacts" 2>/dev/null || true)"
    grep -q '"state": *"Protected"' <<<"$status" && break
    sleep 0.5
  done
  grep -q '"state": *"Protected"' <<<"$status" || { echo "gap not Protected within 60 s" >&2; return 1; }
  local primary secondary
  primary="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"])' <<<"$status")"
  secondary="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["secondary"])' <<<"$status")"
  local p s b
  for i in 0 1 2; do
    [[ "${hosts[$i]}:$port" == "$primary" ]] && p=$i
    [[ "${hosts[$i]}:$port" == "$secondary" ]] && s=$i
  done
  b=$((3 - p - s))
  # Every node listens before the clients start (a node's listener opens when the exposure reaches it).
  for i in 0 1 2; do
    for _ in $(seq 1 100); do grep -q "front door gap: listening" "node$i.log" && break; sleep 0.1; done
  done
  local victim udp_start tcp_host signal
  case "$fault" in
    kill-primary) victim=$p; udp_start=$p; tcp_host=$b; signal=kill ;;
    stop-primary) victim=$p; udp_start=$p; tcp_host=$b; signal=stop ;;
    kill-secondary) victim=$s; udp_start=$b; tcp_host=$b; signal=kill ;;
  esac
  local line rc=0
  line="$(python3 "$root/bench/door_client.py" "$vmport" "$(IFS=,; echo "${hosts[*]}")" "$udp_start" "${hosts[$tcp_host]}" "${pids[$victim]}" "$signal" "${hosts[$victim]}")" || rc=$?
  echo "$fault primary=$primary secondary=$secondary $line"
  # The sides may have changed before the fault (a link silent too long on the loaded machine, a secondary replaced):
  # then the run did not measure what it says and is left out of the figures (its exactly-once check still counts).
  # The sides at the fault are the last "attaching the secondary" before it: the node that logged it, and the node named.
  local fault_at sides
  fault_at="$(sed -n 's/.*fault_at=\([0-9:.]*\).*/\1/p' <<<"$line")"
  sides="$(for i in 0 1 2; do
      sed -nE "s/^\[[A-Z]+\]\[[0-9/]+ ([0-9:.]+)Z\].*attaching the secondary on ([0-9.]+:[0-9]+).*/\1 ${hosts[$i]}:$port \2/p" "node$i.log"
    done | sort | awk -v f="$fault_at" '$1 < f { last = $2 " " $3 } END { print last }')"
  # Where the time went, from the survivors' logs (the loss, the claim, the takeover, the announcement), each line
  # with its time after the signal; and the first survivor's loop to see the loss (a line's "the loop saw it N ms ago"
  # taken off its time).
  local timeline seen
  timeline="$(for i in 0 1 2; do
      grep -h "secondary lost\|primary lost\|is live as\|claiming generation\|claimed generation\|routing to the primary\|is Protected\|attaching the secondary\|the first output after\|the first answer through\|announcing it\|the first packet\|the first checkpoint" "node$i.log" |
        sed -E "s/^\[[A-Z]+\]\[[0-9/]+ ([0-9:.]+)Z\]\[[^]]*\]\[[^]]*\]/\1 ${hosts[$i]}/" || true
    done | sort | awk -v f="$fault_at" '
      function ms(t, p) { split(t, p, ":"); return ((p[1] * 60 + p[2]) * 60 + p[3]) * 1000 }
      { d = ms($1) - ms(f); if (d < -43200000) d += 86400000; printf "    %s %+8.1f ms %s\n", $1, d, substr($0, length($1) + 2) }')"
  seen="$(awk '/secondary lost|primary lost/ && $3 == "ms" && $2 > 0 { ago = 0; if (match($0, /the loop saw it [0-9.]+ ms ago/)) { split(substr($0, RSTART, RLENGTH), w, " "); ago = w[5] }
      printf "%.1f", $2 - ago; exit }' <<<"$timeline")"
  if [[ "$sides" != "$primary $secondary" ]]; then
    echo "  not counted: the sides had changed before the fault (now: primary and secondary ${sides:-unknown})"
    spoiled=$((spoiled + 1))
  else
    echo "$line loss_seen_ms=${seen:-nan}" >> "$results"
  fi
  if [[ "$signal" == kill ]]; then
    sed -nE 's/.*victim_closed_ms=([^ ]+) victim_rss_mib=([^ ]+) victim_anon_mib=([^ ]+) victim_file_mib=([^ ]+) victim_shmem_mib=([^ ]+) victim_threads=([^ ]+).*/  the kernel ending the victim: its sockets closed \1 ms after SIGKILL (resident \2 MiB: anonymous \3, file \4, shared \5; \6 threads)/p' <<<"$line"
    echo "  the first survivor's loop saw the loss ${seen:-(not found)} ms after SIGKILL"
  fi
  echo "$timeline"
  stop_nodes
  cd /
  if (( rc != 0 )) || [[ -n "${DOOR_GAP_KEEP_LOGS:-}" ]]; then echo "  node logs kept in $work"; else rm -rf "$work"; fi
  work=""
  return $rc
}

failed=0
spoiled=0
for r in $(seq 1 "$runs"); do
  echo "run $r of $runs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  one_run || failed=$((failed + 1))
done
python3 - "$results" "$fault" "$failed" "$spoiled" <<'PY'
import re, statistics, sys
rows = [dict(kv.split("=", 1) for kv in l.split()) for l in open(sys.argv[1]) if l.strip()]
print(f"{sys.argv[2]}: {len(rows)} runs measured, {sys.argv[3]} failed, {sys.argv[4]} not counted (the sides had changed before the fault)")
for what in ("udp", "tcp"):
    gaps = sorted(float(r[f"{what}_gap_ms"]) for r in rows if f"{what}_gap_ms" in r)
    normal = sorted(float(r[f"{what}_normal_ms"]) for r in rows if f"{what}_normal_ms" in r)
    exact = sum(1 for r in rows if r.get(f"{what}_exact") == "yes")
    if gaps:
        print(f"  {what.upper()} gap: min {gaps[0]:.0f} ms, median {statistics.median(gaps):.0f} ms, max {gaps[-1]:.0f} ms "
              f"(normal gap between answers p50 {statistics.median(normal):.1f} ms); exactly once in {exact} of {len(rows)} runs")
def spread(key):
    values = sorted(float(r[key]) for r in rows if key in r and r[key] != "nan")
    return f"min {values[0]:.1f}, median {statistics.median(values):.1f}, max {values[-1]:.1f}" if values else "not measured"
if any("victim_closed_ms" in r and r["victim_closed_ms"] != "nan" for r in rows):
    print(f"  the killed node's sockets closed after SIGKILL (ms): {spread('victim_closed_ms')}; its resident memory (MiB): {spread('victim_rss_mib')} "
          f"(anonymous {spread('victim_anon_mib')}; shared {spread('victim_shmem_mib')})")
print(f"  the first survivor's loop saw the loss after the fault (ms): {spread('loss_seen_ms')}")
print(f"  the silence across the fault itself (ms; the longest may be a later one, the re-protection's): UDP {spread('udp_at_fault_ms')}; TCP {spread('tcp_at_fault_ms')}")
PY
(( failed == 0 ))
