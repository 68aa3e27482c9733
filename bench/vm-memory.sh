#!/usr/bin/env bash
# Resident memory of idle VMs: N machines booted on a guest (kv) in one process, the growth of the
# process's resident set divided by N (bench/vm-memory/Program.cs).
#   usage: bench/vm-memory.sh [machines] [guest]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
machines="${1:-100}"
guest="${2:-$root/guests/bin/kv.elf}"
out="$root/.build/vm-memory"
dotnet build "$root/bench/vm-memory/VmMemory.csproj" -c Release -o "$out" -nologo -v quiet >&2
dotnet "$out/vm-memory.dll" "$guest" "$machines"
