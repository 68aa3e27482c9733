#!/usr/bin/env bash
# What the journal writes for many VMs (bench/journal/Program.cs):
#   bench/journal.sh checkpoints                 bytes per checkpoint interval of a kv VM, before and after
#   bench/journal.sh writes VMS BATCHES BYTES sqlite|postgres CONNECTION|temp [key=value ...]
#                                                VMS journal actors writing log batches at once, node.conf's
#                                                journal settings with key=value (under akka.persistence.journal.sql) on top
#   bench/journal.sh profile BYTES COUNT [key=value ...]
#                                                what one durable commit of BYTES costs, one write at a time:
#                                                serialization, the plugin's write, a bare SQLite commit
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/.build/journal-bench"
dotnet build "$root/bench/journal/Journal.csproj" -c Release -o "$out" -nologo -v quiet >&2
case "${1:-}" in
  checkpoints) dotnet "$out/journal-bench.dll" checkpoints "${2:-$root/guests/bin/kv.elf}" ;;
  profile) shift; dotnet "$out/journal-bench.dll" profile "$root/hocon" "${1:-4096}" "${2:-500}" "${@:3}" ;;
  writes) shift; dotnet "$out/journal-bench.dll" writes "$root/hocon" "$@" ;;
  *) echo "usage: bench/journal.sh checkpoints | writes VMS BATCHES BYTES sqlite|postgres CONNECTION|temp [key=value ...]" >&2; exit 2 ;;
esac
