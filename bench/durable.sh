#!/usr/bin/env bash
# What `vm create --durable` costs: three real nodes, a protected kv VM and a durable one side by side,
# each exposed on a port of every node (the front door), driven by a plain TCP client in alternating trials
# of the same run (the machine may be shared: the ratios are what count).
#  - latency: one connection, one request at a time (client, front door, primary, output rule: the durable
#    one also waits for the journal's commit, in SQLite or PostgreSQL), 400 requests;
#  - throughput: 8 connections with 16 requests in flight each (DURABLE_WINDOW=N for N), 20,000 requests
#    (DURABLE_REQUESTS=N for N; 4,000 made a trial 0.2-0.3 s long, and single trials of one run ranged 0.55-1.03), answers over wall time;
#    around it the durable VM's status gives its journal commits: requests per commit, cuts per commit, how long
#    the oldest cut of a commit waited in the journal's actor and how much of that was the store's write;
#  - on SQLite, the store's floor: a bare SQLite commit on the same disk, as the journal makes them.
#   usage: bench/durable.sh [sqlite|postgres CONNECTION] [base-port] [trials] [exposed-port-base]
# DURABLE_HOST=DIR runs another build's lockstep.dll (a copy of .build/host, for A/B series; set LOCKSTEP_HOCON to the
# hocon folder then, since a copy elsewhere does not find it).
set -euo pipefail
kind="${1:-sqlite}"
if [[ "$kind" == postgres ]]; then connection="$2"; shift 2; else shift || true; fi
base="${1:-5940}"
trials="${2:-3}"
exposed="${3:-$((base + 10))}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/lockstep-durable-XXXXXX)"
lockstep=(dotnet "${DURABLE_HOST:-$root/.build/host}/lockstep.dll")
[[ -n "${DURABLE_HOST:-}" ]] || "$root/lockstep" --help >/dev/null  # build once
journal="sqlite:$work/lockstep.db"
[[ "$kind" == postgres ]] && journal="postgres:$connection"
pids=()
cleanup() {
  [[ "$kind" == postgres ]] && declare -F stop_vms >/dev/null && stop_vms
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
# Three loopback addresses, one port: every node binds each exposed port on its own address, as separate hosts would,
# and each VM's client goes to its primary's node (with all nodes on one address, only one of them held a port, and
# whether a VM's primary was on that node decided more of the ratio than --durable did).
for i in 0 1 2; do
  "${lockstep[@]}" node --host 127.0.0.$((i + 1)) --port "$base" --seeds 127.0.0.1:$base --journal "$journal" > node$i.log 2>&1 &
  pids+=($!)
done
contacts="127.0.0.1:$base,127.0.0.2:$base,127.0.0.3:$base"
for _ in $(seq 1 90); do  # a loaded machine may take a while to bring the nodes up
  "${lockstep[@]}" vm list --contact "$contacts" >/dev/null 2>&1 && break
  sleep 1
done
sleep 5  # the other nodes join meanwhile
# A PostgreSQL database outlives a run: VMs an earlier run left there start again with the nodes and take the exposed
# ports first (the client then measured an old VM while the new one idled: ratios of 1.4-1.6, commit counters that
# never moved). So the database must be empty of VMs, and a run stops its own at the end.
held="$("${lockstep[@]}" vm list --json --contact "$contacts" | python3 -c 'import json, sys; print(" ".join(v["name"] for v in json.load(sys.stdin)))')"
if [[ -n "$held" ]]; then
  echo "durable.sh: the journal already holds VMs ($held), an earlier run's?; give it an empty database" >&2
  exit 65
fi
suffix="$(date +%s)"
plain="plain$suffix" durable="durable$suffix"
stop_vms() { for vm in "$plain" "$durable"; do "${lockstep[@]}" vm stop "$vm" --contact "$contacts" >/dev/null 2>&1 || true; done; }
"${lockstep[@]}" vm create "$plain" --image "$root/guests/bin/kv.elf" --expose "$exposed" --contact "$contacts" >/dev/null
"${lockstep[@]}" vm create "$durable" --image "$root/guests/bin/kv.elf" --durable --expose $((exposed + 1)) --contact "$contacts" >/dev/null
for vm in "$plain" "$durable"; do
  for _ in $(seq 1 120); do
    "${lockstep[@]}" vm status "$vm" --json --contact "$contacts" 2>/dev/null | grep -q '"state": *"Protected"' && break
    sleep 0.5
  done
done
sleep 2  # the front doors open the exposed ports once they hear of the VMs
primary_host() { "${lockstep[@]}" vm status "$1" --json --contact "$contacts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["primary"].split(":")[0])'; }
plain_host="$(primary_host "$plain")" durable_host="$(primary_host "$durable")"

cat > client.py <<'PY'
import socket, sys, time
def run(port, connections, window, total):
    socks = [socket.create_connection((host, port)) for _ in range(connections)]
    for s in socks: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    per = total // connections
    lat, sent, got, buf = [], [0] * connections, [0] * connections, [b""] * connections
    stamps = [{} for _ in range(connections)]
    def send(i):
        sent[i] += 1; stamps[i][sent[i]] = time.perf_counter()
        socks[i].sendall(f"{sent[i]} INCR k{i}\n".encode())
    start = time.perf_counter()
    for i in range(connections):
        for _ in range(min(window, per)): send(i)
    import selectors
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks): sel.register(s, selectors.EVENT_READ, i)
    while sum(got) < per * connections:
        for key, _ in sel.select(timeout=30) or [(None, None)]:
            if key is None: sys.exit(f"no answer within 30 s ({sum(got)} of {per * connections})")
            i = key.data
            data = socks[i].recv(65536)
            if not data: sys.exit("connection closed")
            buf[i] += data
            while b"\n" in buf[i]:
                line, buf[i] = buf[i].split(b"\n", 1)
                rid = int(line.split()[0]); got[i] += 1
                lat.append((time.perf_counter() - stamps[i].pop(rid)) * 1000)
                if sent[i] < per: send(i)
    wall = time.perf_counter() - start
    return lat, per * connections / wall
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "latency":
    lat, _ = run(port, 1, 1, 400)
    lat = sorted(lat[20:])  # the first 20 warm up
    print(f"{lat[len(lat)//2]:.3f} {lat[int(len(lat)*0.99)]:.3f}")
else:
    _, rate = run(port, 8, int(sys.argv[4]), int(sys.argv[5]))
    print(f"{rate:.1f}")
PY
cat > commits.py <<'PY'
import json, sys
def figures(path):
    j = json.load(open(path))["figures"]["journal"]
    return [j["commits"], j["commitParts"], j["commitWaitedMs"], j["commitWriteMs"]]
a, b = figures(sys.argv[1]), figures(sys.argv[2])
commits, parts, waited, write = (y - x for x, y in zip(a, b))
if commits <= 0:  # its primary changed during the trial (the counters start again with each primary): not counted
    print("the durable VM's commit counters went back during the trial (a new primary?); its commit figures are left out", file=sys.stderr)
    print("nan nan nan nan")
else:
    print(f"{int(sys.argv[3]) / commits:.1f} {parts / commits:.1f} {waited / commits:.3f} {write / commits:.3f}")
PY
status() { "${lockstep[@]}" vm status "$durable" --json --contact "$contacts" > "$1"; }
echo "# durable benchmark: journal $kind, 3 nodes (127.0.0.1-3), the protected VM's primary on $plain_host, the durable one's on $durable_host, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
window="${DURABLE_WINDOW:-16}"
requests="${DURABLE_REQUESTS:-20000}"
[[ "$requests" =~ ^[1-9][0-9]*$ ]] && (( requests >= 800 )) || { echo "durable.sh: DURABLE_REQUESTS must be a number of at least 800, not '$requests'" >&2; exit 64; }
[[ "$window" =~ ^[1-9][0-9]*$ ]] && (( window <= 64 )) || { echo "durable.sh: DURABLE_WINDOW must be 1..64 (kv remembers a peer's last 64 request ids), not '$window'" >&2; exit 64; }
python3 client.py throughput "$plain_host" "$exposed" "$window" 4000 >/dev/null; python3 client.py throughput "$durable_host" $((exposed + 1)) "$window" 4000 >/dev/null  # warm-up, not counted
: > results.txt
for t in $(seq 1 "$trials"); do
  pl=$(python3 client.py latency "$plain_host" "$exposed"); dl=$(python3 client.py latency "$durable_host" $((exposed + 1)))
  pt=$(python3 client.py throughput "$plain_host" "$exposed" "$window" "$requests")
  status before.json; dt=$(python3 client.py throughput "$durable_host" $((exposed + 1)) "$window" "$requests"); status after.json
  cm=$(python3 commits.py before.json after.json "$requests")
  echo "$pl $dl $pt $dt $cm" >> results.txt
  read -r a b c d <<< "$pl $dl"
  read -r rpc ppc wait write <<< "$cm"
  echo "trial $t: latency protected p50 $a ms p99 $b ms, durable p50 $c ms p99 $d ms; throughput protected $pt req/s, durable $dt req/s (ratio $(python3 -c "print(f'{$dt/$pt:.3f}')")); durable commits: $rpc requests and $ppc cuts each, the oldest cut waited $wait ms, the store's write $write ms"
done
DURABLE_WINDOW="$window" python3 - <<'PY'
import os
window = os.environ["DURABLE_WINDOW"]
rows = [list(map(float, l.split())) for l in open("results.txt")]
med = lambda xs: sorted(xs)[len(xs)//2]
pp50, pp99, dp50, dp99 = (med([r[i] for r in rows]) for i in range(4))
ratios = [r[5] / r[4] for r in rows]
import math
counted = [r for r in rows if not math.isnan(r[6])]
rpc, ppc, wait, write = (med([r[i] for r in counted]) if counted else math.nan for i in range(6, 10))
print(f"added latency of --durable (median of {len(rows)}): p50 {dp50 - pp50:+.2f} ms ({pp50:.2f} -> {dp50:.2f}), p99 {dp99 - pp99:+.2f} ms ({pp99:.2f} -> {dp99:.2f})")
print(f"throughput ratio durable/protected, 8 connections x {window} in flight (median of {len(rows)}): {med(ratios):.3f}  (each: {', '.join(f'{r:.3f}' for r in ratios)})")
print(f"durable journal under that load (median of {len(counted)}): {rpc:.1f} requests per commit ({ppc:.1f} cuts), a commit {wait:.2f} ms from its oldest cut's arrival, {write:.2f} ms of it the store's write")
PY
if [[ "$kind" == sqlite ]]; then
  # The store's floor on this disk: a bare SQLite commit as the journal makes them (WAL, synchronous FULL: one fsync each).
  python3 - "$work/floor.db" <<'PY'
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL")
db.execute("create table t (id integer primary key, b blob)")
row, lat = os.urandom(4096), []
for _ in range(300):
    t = time.perf_counter(); db.execute("begin"); db.execute("insert into t (b) values (?)", (row,)); db.execute("commit")
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print(f"reference, a bare SQLite commit of one 4 KiB row on the same disk (WAL, synchronous=FULL), 300 commits: p50 {lat[150]:.2f} ms p99 {lat[297]:.2f} ms")
PY
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -h "outputs are held\|journal write failed\|is live as generation" node*.log | head -5 || true
