# Timing helpers for the bench/ scripts (sourced; `runs` must be set).

best_wall() { # best wall time of a command over $runs runs, in seconds
  local best=""
  for _ in $(seq 1 "$runs"); do
    local t0 t1 t
    t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
    t=$(echo "$t1 - $t0" | bc -l)
    if [[ -z "$best" ]] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  echo "$best"
}

qemu_run() { # the reference emulator on one ELF: QEMU's virt board, no firmware
  timeout 300 qemu-system-riscv32 -M virt -bios none -nographic -kernel "$1"
}
