# Shared settings and helpers of the infra scripts; sourced, not run.
# Every setting can be overridden from the environment; the defaults are the dev platform's.
set -euo pipefail

CB_HOME=${CASEBRIDGE_HOME:-$HOME/.cache/casebridge}          # downloads and built binaries, outside the repo
CB_BIN=$CB_HOME/bin
CB_STATE=${CASEBRIDGE_STATE:-$CB_HOME/state/dev}            # pids, logs and data of one set of servers
CB_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

NATS_PORT=${NATS_PORT:-4222}
NATS_MONITOR_PORT=${NATS_MONITOR_PORT:-8222}
MONGO_PORT=${MONGO_PORT:-27017}
FERRETDB_DEBUG_PORT=${FERRETDB_DEBUG_PORT:-27018}
KEYCLOAK_PORT=${KEYCLOAK_PORT:-8180}
KEYCLOAK_MANAGEMENT_PORT=${KEYCLOAK_MANAGEMENT_PORT:-9180}
KEYCLOAK_DB=${KEYCLOAK_DB:-dev-file}                         # dev-mem: fresh realm import on every start (tests)
KEYCLOAK_VERSION=${KEYCLOAK_VERSION:-26.5.6}
NATS_VERSION=${NATS_VERSION:-v2.15.2}                         # also the chart's NATS image tag (charts/casebridge/values.yaml)
FERRETDB_VERSION=${FERRETDB_VERSION:-v1.24.0}
K6_VERSION=${K6_VERSION:-v1.8.1}
HELM_VERSION=${HELM_VERSION:-v3.16.4}
KUBECONFORM_VERSION=${KUBECONFORM_VERSION:-v0.6.7}
SKAFFOLD_VERSION=${SKAFFOLD_VERSION:-v2.16.1}
# Kubernetes JSON schemas for kubeconform, from the kubernetes-validate package on PyPI (the usual
# schema repository is not reachable here); K8S_SCHEMA_VERSION is the Kubernetes version checked.
K8S_SCHEMAS_PACKAGE=${K8S_SCHEMAS_PACKAGE:-kubernetes-validate==1.37.0}
K8S_SCHEMA_VERSION=${K8S_SCHEMA_VERSION:-1.31.0}

# One nkey seed per NATS user (services, gateway, tsa, operator), made once per state directory.
export NATS_CREDENTIALS_DIR=${NATS_CREDENTIALS_DIR:-$CB_STATE/nats-auth}

mkdir -p "$CB_BIN" "$CB_STATE/logs" "$CB_STATE/pids"

log() { printf '[infra] %s\n' "$*" >&2; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

# pid_of NAME: the recorded pid of a server we started, if that process still runs.
pid_of() {
  local file=$CB_STATE/pids/$1.pid pid
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  kill -0 "$pid" 2>/dev/null || { rm -f "$file"; return 1; }
  echo "$pid"
}

# start_server NAME CMD...: runs CMD in its own process group, logs to $CB_STATE/logs/NAME.log, records its pid.
start_server() {
  local name=$1; shift
  setsid "$@" >"$CB_STATE/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$CB_STATE/pids/$name.pid"
}

# stop_server NAME: SIGTERM to the process group we started, SIGKILL after 30 s; forgets its pid.
stop_server() {
  local name=$1 pid
  pid=$(pid_of "$name") || return 0
  log "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 30s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$CB_STATE/pids/$name.pid"
}

# wait_until NAME SECONDS CMD...: polls CMD every half second; on time-out shows the server log and fails.
wait_until() {
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! pid_of "$name" >/dev/null; then
      tail -n 30 "$CB_STATE/logs/$name.log" >&2 || true
      die "$name exited during start-up (log: $CB_STATE/logs/$name.log)"
    fi
    [ $SECONDS -lt $deadline ] || { tail -n 30 "$CB_STATE/logs/$name.log" >&2 || true; die "$name not ready after ${seconds}s (log: $CB_STATE/logs/$name.log)"; }
    sleep 0.5
  done
}

# port_open PORT: true when something listens on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# as_root CMD...: runs CMD as root (directly, or through sudo).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

# java_home: a JDK for Keycloak, newest first (Keycloak 26 wants 21 or later; 17 still runs but is deprecated).
java_home() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then echo "$JAVA_HOME"; return; fi
  local version candidate
  for version in 25 21 17; do
    for candidate in /usr/lib/jvm/*-"$version"-* /usr/lib/jvm/*-"$version"; do
      [ -x "$candidate/bin/java" ] && { echo "$candidate"; return; }
    done
  done
  command -v java >/dev/null && { dirname "$(dirname "$(readlink -f "$(command -v java)")")"; return; }
  return 1
}

# nats_credentials: makes the NATS users' nkey seeds and public-keys.env if missing (needs the built kit).
nats_credentials() {
  local cli=$CB_REPO/services/kit/dist/nats-auth/cli.js
  [ -f "$cli" ] || (cd "$CB_REPO" && npx tsc -b services/kit) || die "cannot build services/kit (run npm install first)"
  node "$cli" init --dir "$NATS_CREDENTIALS_DIR" >/dev/null
}
