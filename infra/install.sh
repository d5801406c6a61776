#!/usr/bin/env bash
# Installs the local infrastructure from the package registries, caching under $CASEBRIDGE_HOME
# (default ~/.cache/casebridge). Idempotent: what is there already is not fetched again.
# Usage: infra/install.sh [nats] [ferretdb] [keycloak] [k6] [chromium]   (no argument: nats ferretdb keycloak)
source "$(dirname "$0")/lib.sh"

install_nats() {
  command -v nats-server >/dev/null && return
  log "installing nats-server (Debian package)"
  as_root apt-get install -y -qq nats-server >/dev/null 2>&1 || { as_root apt-get update -qq && as_root apt-get install -y -qq nats-server >/dev/null; }
}

install_ferretdb() {
  [ -x "$CB_BIN/ferretdb" ] && "$CB_BIN/ferretdb" --version 2>&1 | grep -q "$FERRETDB_VERSION" && return
  command -v go >/dev/null || die "Go is needed to build FerretDB"
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy (once; about 2 minutes)"
  # `go install …@version` cannot be used: it asks the proxy for the module's version list, which
  # is refused for FerretDB. Download the exact version instead and build it; the module zip lacks
  # build/version/version.txt (normally made by FerretDB's own task runner), so write it.
  local work; work=$(mktemp -d)
  (cd "$work" && go mod init casebridge.local/ferretdb >/dev/null 2>&1 \
     && GOFLAGS=-mod=mod go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" >download.json) \
     || die "cannot download FerretDB $FERRETDB_VERSION from the Go module proxy"
  local src; src=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' "$work/download.json")
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  echo "$FERRETDB_VERSION" >"$work/src/build/version/version.txt"
  (cd "$work/src" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$CB_BIN/ferretdb" ./cmd/ferretdb) || die "FerretDB build failed"
  rm -rf "$work"
}

install_keycloak() {
  [ -x "$CB_HOME/keycloak/keycloak-$KEYCLOAK_VERSION/bin/kc.sh" ] && return
  command -v mvn >/dev/null || die "Maven is needed to fetch Keycloak"
  log "fetching Keycloak $KEYCLOAK_VERSION from Maven Central (once)"
  mvn -q dependency:get -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz" -Dtransitive=false >/dev/null \
    || die "cannot fetch org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION"
  local repo=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
  mkdir -p "$CB_HOME/keycloak"
  tar -xzf "$repo/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz" -C "$CB_HOME/keycloak"
}

install_k6() {
  [ -x "$CB_BIN/k6" ] && return
  command -v go >/dev/null || die "Go is needed to build k6"
  log "building k6 $K6_VERSION from the Go module proxy (once; several minutes)"
  GOBIN=$CB_BIN CGO_ENABLED=0 go install "go.k6.io/k6@$K6_VERSION" || die "k6 build failed"
}

install_chromium() {
  # A CJK font too, so that screenshots of the Chinese UI show characters, not boxes.
  command -v chromium >/dev/null && [ -d /usr/share/fonts/truetype/wqy ] && return
  log "installing chromium and a CJK font (Debian packages)"
  as_root apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null 2>&1 || { as_root apt-get update -qq && as_root apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(nats ferretdb keycloak)
for target in "${targets[@]}"; do
  case $target in
    nats|ferretdb|keycloak|k6|chromium) "install_$target" ;;
    *) die "unknown component '$target' (nats, ferretdb, keycloak, k6, chromium)" ;;
  esac
done
