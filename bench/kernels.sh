#!/usr/bin/env bash
# Guest speed kernel by kernel: each of bench's six kernels built alone, run under QEMU (TCG) and
# under Lockstep, best of N runs each. Start-up is left out on both sides: ours is timed inside
# the process (--stats), QEMU's wall time has its start-up (the best run of hello.elf) taken off.
# Shows where our speed over QEMU comes from and where it does not. With a host C compiler (cc),
# the same kernel compiled natively (-O2) gives the floor no emulator goes under.
#   usage: bench/kernels.sh [runs] [rounds]
set -euo pipefail
runs="${1:-3}"
rounds="${2:-60}"
root="$(cd "$(dirname "$0")/.." && pwd)"
lockstep=(dotnet "$root/.build/host/lockstep.dll")
"$root/lockstep" --help >/dev/null
work="$(mktemp -d /tmp/lockstep-kernels-XXXXXX)"
trap 'rm -rf "$work"' EXIT
source "$root/bench/timing.sh"

qemu_start=$(best_wall qemu_run "$root/guests/bin/hello.elf")
native=""
if command -v cc >/dev/null; then # the guest SDK's one call bench makes, for a host build
  native=1
  echo 'static unsigned long long rdinstret64(void) { return 0; }' >"$work/lockstep.h"
fi
printf '%-8s %12s %10s %10s %7s %10s %10s\n' kernel instructions "QEMU MIPS" "our MIPS" ratio "QEMU s" "native s"
bit=1
for kernel in sieve crc hash matmul sort div; do
  elf="$work/$kernel.elf"
  make -s -C "$root/guests" kernel KERNELS="$bit" ROUNDS="$rounds" OUT="$elf"
  bit=$((bit * 2))
  ours="" instructions=""
  for _ in $(seq 1 "$runs"); do # best in-process time
    stats=$("${lockstep[@]}" run "$elf" --stats 2>&1 >/dev/null | grep -m1 MIPS)
    instructions=$(sed -n 's/.*instructions: \([0-9]*\).*/\1/p' <<<"$stats")
    t=$(sed -n 's/.*seconds: \([0-9.]*\).*/\1/p' <<<"$stats")
    if [[ -z "$ours" ]] || (( $(echo "$t < $ours" | bc -l) )); then ours=$t; fi
  done
  q=$(echo "$(best_wall qemu_run "$elf") - $qemu_start" | bc -l)
  host="-"
  if [[ -n "$native" ]]; then
    cc -O2 -I"$work" -DBENCH_KERNELS="$((bit / 2))" -DBENCH_ROUNDS="$rounds" -o "$work/$kernel.native" "$root/guests/bench.c"
    host=$(printf '%.3f' "$(best_wall "$work/$kernel.native")")
  fi
  printf '%-8s %12d %10.0f %10.0f %6.2fx %10.3f %10s\n' "$kernel" "$instructions" \
    "$(echo "$instructions / $q / 1000000" | bc -l)" "$(echo "$instructions / $ours / 1000000" | bc -l)" "$(echo "$q / $ours" | bc -l)" "$q" "$host"
done
echo "(native s: the kernel compiled for the host with cc -O2, wall time; 3x QEMU would be QEMU s / 3)"
echo "(QEMU start-up taken off: $(printf '%.3f' "$qemu_start") s; ratio = our speed / QEMU's, target for bench as a whole >= 3)"
