#!/usr/bin/env bash
# The whole test suite: engine, in-process cluster, process-level cluster and demo tests.
# Projects run one after another: the cluster tests start several nodes each, and on a 2-core
# machine running them side by side starves the lockstep heartbeats.
set -euo pipefail
cd "$(dirname "$0")"
dotnet build Lockstep.sln -c Release --nologo -v quiet
bash ./lockstep --help >/dev/null   # the CLI the process-level tests drive
for project in tests/*/*.csproj; do
  echo "== $project"
  dotnet test "$project" -c Release --no-build --nologo "$@"
done
