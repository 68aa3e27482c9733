#!/usr/bin/env bash
# Export size against the journal's size for the same stretch of kv load (issue 16):
#   bench/export-size.sh [SECONDS] [REQUESTS-PER-SECOND]
# Two nodes on ports 5640-5641 share a fresh SQLite journal; one kv VM serves INCR/PUT requests at the
# given rate for SECONDS; then `vm export --from now-SECONDSs` is written and compared with what the
# journal holds of the VM (log batches and increments in the journal table, checkpoints in the snapshot
# table) and with the growth of the journal files over the same time.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
rate="${2:-200}"
work="$(mktemp -d /tmp/lockstep-export-bench-XXXXXX)"
export LOCKSTEP_HOCON="$root/hocon"
db="$work/lockstep.db"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [[ -n "${KEEP:-}" ]] || rm -rf "$work"; }
trap cleanup EXIT
"$root/lockstep" --help >/dev/null
dotnet "$root/.build/host/lockstep.dll" node --port 5640 --journal "sqlite:$db" >"$work/n0.log" 2>&1 & pids+=($!)
sleep 4
dotnet "$root/.build/host/lockstep.dll" node --port 5641 --seeds 127.0.0.1:5640 --journal "sqlite:$db" >"$work/n1.log" 2>&1 & pids+=($!)
sleep 8
vm() { dotnet "$root/.build/host/lockstep.dll" vm "$@" --contact 127.0.0.1:5640; }
vm create kv --image "$root/guests/bin/kv.elf" >/dev/null
until vm status kv 2>/dev/null | grep -q Protected; do sleep 1; done
size() { du -cb "$db"* | tail -1 | cut -f1; }
before=$(size)
python3 - "$seconds" "$rate" <<'PY' | vm send kv --window 8 >"$work/answers.txt"
import sys, time
seconds, rate = float(sys.argv[1]), float(sys.argv[2])
start, n = time.time(), 0
while time.time() - start < seconds:
    n += 1
    print(f"{n} INCR c{n % 50}" if n % 2 else f"{n} PUT k{n % 500} value-{n}", flush=True)
    time.sleep(max(0.0, start + n / rate - time.time()))
PY
sleep 1
after=$(size)
answered=$(wc -l <"$work/answers.txt")
vm export kv --out "$work/kv.export" --from "now-${seconds}s" >"$work/export.txt"
held_log=$(sqlite3 "$db" "select coalesce(sum(length(message)),0) from journal where persistence_id='vmlog-kv' and deleted=0")
held_snap=$(sqlite3 "$db" "select coalesce(sum(length(snapshot)),0) from snapshot where persistence_id='vmlog-kv'")
export_bytes=$(stat -c %s "$work/kv.export")
echo "load: ${seconds} s at ${rate} requests/s, ${answered} answered"
cat "$work/export.txt"
echo "export: $export_bytes bytes ($(( export_bytes * 60 / seconds )) bytes per minute of load)"
echo "journal holds of vmlog-kv: $held_log bytes of log batches and increments + $held_snap bytes of full checkpoint = $(( held_log + held_snap )) bytes"
echo "journal files grew by $(( after - before )) bytes during the load"
