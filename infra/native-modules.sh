#!/usr/bin/env bash
# Runs the install scripts `npm ci --ignore-scripts` skipped (.ci/run), taking better-sqlite3's
# compiled addon from a per-user cache when it is there. The addon's prebuilt binary comes from
# GitHub, which CI machines here cannot reach, so npm builds SQLite from source with node-gyp on
# every fresh clone: about 90 s of a CI run's 2-minute `npm ci`. The cache is keyed by the
# package's version, Node's module ABI, the platform and the architecture, the same key as the
# prebuilt binaries', so a different Node or a new better-sqlite3 builds once and is cached again:
#   ${CELLSIM_CACHE:-~/.cache/cellsim}/better-sqlite3-<version>-abi<N>-<platform>-<arch>/better_sqlite3.node
# The addon is loaded and used once before the script ends; a cached copy that does not load is
# rebuilt. The other two packages with install scripts (esbuild's binary check, protobufjs's
# version notice) are run through `npm rebuild` as npm would.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${CELLSIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cellsim}"
log() { printf '[native +%3ss] %s\n' "$SECONDS" "$*"; }

npm rebuild --no-audit --no-fund esbuild protobufjs >/dev/null

key="$(node -p "['better-sqlite3-' + require('better-sqlite3/package.json').version, 'abi' + process.versions.modules, process.platform, process.arch].join('-')")"
addon=node_modules/better-sqlite3/build/Release/better_sqlite3.node
cached="$CACHE/$key/better_sqlite3.node"
works() { node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" 2>/dev/null; }

if [[ -f "$cached" ]]; then
  mkdir -p "$(dirname "$addon")"
  cp "$cached" "$addon"
  if works; then log "better-sqlite3: cached addon $cached"; exit 0; fi
  log "better-sqlite3: the cached addon $cached does not load; building it again"
  rm -f "$addon"
fi
log "better-sqlite3: building the addon (node-gyp, about 90 s)"
npm rebuild --no-audit --no-fund better-sqlite3 >/dev/null
works || { echo "cellsim setup: better-sqlite3 built but does not load; run: npm rebuild better-sqlite3" >&2; exit 1; }
mkdir -p "$(dirname "$cached")"
cp "$addon" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"
log "better-sqlite3: built and cached at $cached"
