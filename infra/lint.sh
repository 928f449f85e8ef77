#!/usr/bin/env bash
# The project's linters: strict typecheck, type-aware eslint, prettier, and a circular-import check.
set -euo pipefail
cd "$(dirname "$0")/.."
tsc -p .
eslint .
prettier --check .
dirs=()
for d in bin shared router cells control-plane infra topology loadtest; do [[ -d $d ]] && dirs+=("$d"); done
madge --circular --extensions ts --ts-config tsconfig.json "${dirs[@]}"
