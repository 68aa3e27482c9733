#!/usr/bin/env bash
# Guest speed kernel by kernel: each of bench's six kernels built alone, and all six together
# ("all", bench itself), run under QEMU (TCG) and under Lockstep, best of N runs each. Start-up is
# left out on both sides: ours is timed inside the process (--stats), QEMU's wall time has its
# start-up (the best run of hello.elf) taken off. With a host C compiler (cc), the same C source
# compiled natively with cc -O2 gives the reference no emulator goes under.
#   usage: bench/kernels.sh [runs] [rounds] [guest optimisation, default -O2]
set -euo pipefail
runs="${1:-3}"
rounds="${2:-60}"
opt="${3:--O2}"
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
echo "guest code built with $opt, $rounds rounds; native reference built with cc -O2"
printf '%-8s %12s %10s %10s %8s %10s %10s %10s %9s\n' kernel instructions "QEMU MIPS" "our MIPS" "vs QEMU" "QEMU s" "our s" "native s" "vs native"
for kernel in sieve crc hash matmul sort div all; do
  case $kernel in
    sieve) bits=1 ;; crc) bits=2 ;; hash) bits=4 ;; matmul) bits=8 ;; sort) bits=16 ;; div) bits=32 ;; all) bits=63 ;;
  esac
  elf="$work/$kernel.elf"
  make -s -C "$root/guests" kernel KERNELS="$bits" ROUNDS="$rounds" OUT="$elf" OPT="$opt"
  ours="" instructions=""
  for _ in $(seq 1 "$runs"); do # best in-process time
    stats=$("${lockstep[@]}" run "$elf" --stats 2>&1 >/dev/null | grep -m1 MIPS)
    instructions=$(sed -n 's/.*instructions: \([0-9]*\).*/\1/p' <<<"$stats")
    t=$(sed -n 's/.*seconds: \([0-9.]*\).*/\1/p' <<<"$stats")
    if [[ -z "$ours" ]] || (( $(echo "$t < $ours" | bc -l) )); then ours=$t; fi
  done
  q=$(echo "$(best_wall qemu_run "$elf") - $qemu_start" | bc -l)
  host="-" versus="-"
  if [[ -n "$native" ]]; then
    cc -O2 -I"$work" -DBENCH_KERNELS="$bits" -DBENCH_ROUNDS="$rounds" -o "$work/$kernel.native" "$root/guests/bench.c"
    host=$(printf '%.3f' "$(best_wall "$work/$kernel.native")")
    versus=$(printf '%.0f%%' "$(echo "$host / $ours * 100" | bc -l)")
  fi
  printf '%-8s %12d %10.0f %10.0f %7.2fx %10.3f %10.3f %10s %9s\n' "$kernel" "$instructions" \
    "$(echo "$instructions / $q / 1000000" | bc -l)" "$(echo "$instructions / $ours / 1000000" | bc -l)" "$(echo "$q / $ours" | bc -l)" \
    "$q" "$ours" "$host" "$versus"
done
echo "(vs QEMU: our speed / QEMU's, target >= 2; vs native: native time / our time, target >= 50 %)"
echo "(QEMU start-up taken off: $(printf '%.3f' "$qemu_start") s; native s is wall time, process start included)"
