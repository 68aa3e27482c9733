#!/usr/bin/env bash
# Guest speed on the compute guest: QEMU (TCG) on the same ELF, then Lockstep's plain run,
# record and replay, each best of N runs. Prints MIPS and the ratios.
#   usage: bench/engine.sh [runs] [guest]
set -euo pipefail
runs="${1:-3}"
root="$(cd "$(dirname "$0")/.." && pwd)"
guest="${2:-$root/guests/bin/bench.elf}"
lockstep=(dotnet "$root/.build/host/lockstep.dll")
"$root/lockstep" --help >/dev/null
log="$(mktemp /tmp/lockstep-bench-XXXXXX.log)"
trap 'rm -f "$log"' EXIT
source "$root/bench/timing.sh"

# Instructions retired by the guest: our machine counts them exactly (QEMU's own count is not exposed without -icount).
instructions=$("${lockstep[@]}" run "$guest" --stats 2>&1 >/dev/null | sed -n 's/.*instructions: \([0-9]*\).*/\1/p')

qemu=$(best_wall qemu_run "$guest")
run=$(best_wall "${lockstep[@]}" run "$guest")
record=$(best_wall "${lockstep[@]}" record "$guest" --log "$log")
"${lockstep[@]}" record "$guest" --log "$log" >/dev/null 2>&1
replay=$(best_wall "${lockstep[@]}" replay "$guest" --log "$log")
mips() { echo "scale=1; $instructions / $1 / 1000000" | bc -l; }
echo "guest: $(basename "$guest"), $instructions instructions, best of $runs (wall time, process start included)"
printf '%-28s %8.3f s  %7s MIPS\n' "QEMU 7.2 TCG (-M virt)" "$qemu" "$(mips "$qemu")"
printf '%-28s %8.3f s  %7s MIPS\n' "lockstep run" "$run" "$(mips "$run")"
printf '%-28s %8.3f s  %7s MIPS\n' "lockstep record" "$record" "$(mips "$record")"
printf '%-28s %8.3f s  %7s MIPS\n' "lockstep replay" "$replay" "$(mips "$replay")"
echo "run vs QEMU speed: $(echo "scale=3; $qemu / $run" | bc -l) x (target >= 3)"
for mode in run record replay; do  # the same, measured inside the process (no start-up, no JIT of the CLI)
  case $mode in
    run) args=(run "$guest") ;;
    record) args=(record "$guest" --log "$log") ;;
    replay) args=(replay "$guest" --log "$log") ;;
  esac
  echo "$mode in-process: $("${lockstep[@]}" "${args[@]}" --stats 2>&1 >/dev/null | grep -m1 MIPS)"
done
# The same comparison on a run ten times longer, where start-up (about 70 ms for us, less for QEMU) no longer counts.
long="$root/guests/bin/bench-long.elf"
if [[ "$guest" == "$root/guests/bin/bench.elf" && -f "$long" ]]; then
  long_instructions=$("${lockstep[@]}" run "$long" --stats 2>&1 >/dev/null | sed -n 's/.*instructions: \([0-9]*\).*/\1/p')
  qemu_long=$(best_wall qemu_run "$long")
  run_long=$(best_wall "${lockstep[@]}" run "$long")
  lmips() { echo "scale=1; $long_instructions / $1 / 1000000" | bc -l; }
  echo "bench-long: $long_instructions instructions, best of $runs"
  printf '%-28s %8.3f s  %7s MIPS\n' "QEMU 7.2 TCG (-M virt)" "$qemu_long" "$(lmips "$qemu_long")"
  printf '%-28s %8.3f s  %7s MIPS\n' "lockstep run" "$run_long" "$(lmips "$run_long")"
  echo "bench-long run vs QEMU speed: $(echo "scale=3; $qemu_long / $run_long" | bc -l) x (target >= 3)"
fi
echo "recording overhead vs run: $(echo "scale=6; x = ($record / $run - 1) * 100; scale=1; x / 1" | bc -l) % (target <= 5 %)"
echo "replay vs record speed: $(echo "scale=3; $record / $replay" | bc -l) x (target >= 1)"
