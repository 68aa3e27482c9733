#!/usr/bin/env bash
# The whole test suite: engine, in-process cluster, process-level cluster and demo tests.
# Projects run one after another: the cluster tests start several nodes each, and on a 2-core
# machine running them side by side starves the lockstep heartbeats.
set -euo pipefail
cd "$(dirname "$0")"

# The PostgreSQL journal test needs a server. Unless LOCKSTEP_TEST_POSTGRES names one, a private
# throwaway server is started for the run (Debian's postgresql, installed first when missing).
pg_bin="" pg_dir="" pg_as=()
stop_postgres() {
  [[ -n "$pg_dir" ]] || return 0
  "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$pg_dir"
}
start_postgres() {
  [[ -z "${LOCKSTEP_TEST_POSTGRES:-}" ]] || return 0
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z "$pg_bin" && $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "test.sh: installing postgresql for the PostgreSQL journal test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  fi
  if [[ -z "$pg_bin" ]]; then
    echo "test.sh: no PostgreSQL server here; the PostgreSQL journal test will fail (install postgresql, or set LOCKSTEP_TEST_POSTGRES)" >&2
    return 0
  fi
  pg_dir=$(mktemp -d /tmp/lockstep-pg-XXXXXX)
  if [[ $(id -u) == 0 ]]; then chown postgres "$pg_dir"; pg_as=(runuser -u postgres --); fi  # the server refuses to run as root
  trap stop_postgres EXIT
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U lockstep --auth=trust >/dev/null
  "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
    -o "-p $port -k $pg_dir -c listen_addresses=127.0.0.1" start >/dev/null
  "${pg_as[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U lockstep lockstep
  export LOCKSTEP_TEST_POSTGRES="Host=127.0.0.1;Port=$port;Username=lockstep;Database=lockstep"
  echo "test.sh: private PostgreSQL on 127.0.0.1:$port"
}
start_postgres

dotnet build Lockstep.sln -c Release --nologo -v quiet
dotnet build bench/vm-memory/VmMemory.csproj -c Release --nologo -v quiet   # a benchmark outside the solution: keep it compiling
dotnet build bench/journal/Journal.csproj -c Release --nologo -v quiet
bash ./lockstep --help >/dev/null   # the CLI the process-level tests drive
for project in tests/*/*.csproj; do
  echo "== $project"
  dotnet test "$project" -c Release --no-build --nologo "$@"
done
