#!/usr/bin/env bash
# The whole test suite: engine, CLI and cluster tests.
set -euo pipefail
cd "$(dirname "$0")"
dotnet test Lockstep.sln -c Release --nologo "$@"
