#!/usr/bin/env bash
# Installs (if needed) and starts the local infrastructure on 127.0.0.1, then waits until each
# server is ready. Idempotent: a server already started from the same state directory is left alone.
# Usage: infra/up.sh [nats] [ferretdb] [keycloak]   (no argument: all three, and k6 installed for load tests)
source "$(dirname "$0")/lib.sh"

up_nats() {
  if ! pid_of nats >/dev/null; then
    nats_credentials
    log "starting NATS with JetStream on :$NATS_PORT (nkey users: $NATS_CREDENTIALS_DIR)"
    mkdir -p "$CB_STATE/nats"
    # The public keys the authorization file names, from the environment (never in the repo).
    ( set -a; source "$NATS_CREDENTIALS_DIR/public-keys.env"; NATS_SERVER_NAME=casebridge-$NATS_PORT; set +a
      start_server nats "$CB_BIN/nats-server" -c "$CB_REPO/infra/nats/local.conf" -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MONITOR_PORT" -js -sd "$CB_STATE/nats" )
  fi
  wait_until nats 30 curl -sf "http://127.0.0.1:$NATS_MONITOR_PORT/healthz"
}

up_ferretdb() {
  if ! pid_of ferretdb >/dev/null; then
    log "starting FerretDB (SQLite backend) on :$MONGO_PORT${MONGO_AUTH:+ (authentication: $MONGO_AUTH)}"
    mkdir -p "$CB_STATE/ferretdb"
    local auth=()
    # MONGO_AUTH=on: FerretDB's experimental SCRAM authentication with an administrator (password made
    # once in the state directory); scripts/up.sh then makes one user per service. FerretDB v1 enforces
    # authentication only, no roles: see README, "Kubernetes". Takes effect on a fresh state (--purge).
    if [ "${MONGO_AUTH:-off}" = on ]; then
      [ -s "$CB_STATE/ferretdb-admin-password" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$CB_STATE/ferretdb-admin-password")
      auth=(--test-enable-new-auth --setup-database=admin --setup-username=casebridge-admin --setup-password="$(cat "$CB_STATE/ferretdb-admin-password")")
    fi
    start_server ferretdb "$CB_BIN/ferretdb" --handler=sqlite --sqlite-url="file:$CB_STATE/ferretdb/" \
      --listen-addr="127.0.0.1:$MONGO_PORT" --debug-addr="127.0.0.1:$FERRETDB_DEBUG_PORT" \
      --state-dir="$CB_STATE/ferretdb" --telemetry=disable --log-level=warn "${auth[@]}"
  fi
  wait_until ferretdb 30 port_open "$MONGO_PORT"
}

up_keycloak() {
  local home=$CB_STATE/keycloak-$KEYCLOAK_VERSION
  local realm=$CB_STATE/casebridge-realm.import.json realm_sum
  # The realm to import: the platform's, plus the test-only password-grant clients when `npm test` asks (KEYCLOAK_TEST_CLIENTS=1).
  mkdir -p "$CB_STATE"
  if [ "${KEYCLOAK_TEST_CLIENTS:-0}" = 1 ]; then
    node "$CB_REPO/infra/keycloak/with-test-clients.mjs" "$CB_REPO/infra/keycloak/casebridge-realm.json" "$CB_REPO/infra/keycloak/test-clients.json" >"$realm"
  else
    cp "$CB_REPO/infra/keycloak/casebridge-realm.json" "$realm"
  fi
  realm_sum=$(sha256sum "$realm" | cut -d' ' -f1)
  # Keycloak imports a realm only once; when the realm file changed, start from a fresh (dev) database.
  if [ -f "$home/data/import/casebridge-realm.json" ] && [ "$(cat "$home/data/realm.sha256" 2>/dev/null)" != "$realm_sum" ]; then
    log "the realm file changed: re-importing it (dev Keycloak data reset)"
    stop_server keycloak
    rm -rf "$home/data/h2"
  fi
  if ! pid_of keycloak >/dev/null; then
    # Each state directory gets its own copy: Keycloak writes its build and its data beside itself.
    [ -d "$home" ] || cp -r "$CB_HOME/keycloak/keycloak-$KEYCLOAK_VERSION" "$home"
    mkdir -p "$home/data/import"
    cp "$realm" "$home/data/import/casebridge-realm.json"
    echo "$realm_sum" >"$home/data/realm.sha256"
    local jdk; jdk=$(java_home) || die "no Java found for Keycloak (install a JDK 21 or later)"
    log "starting Keycloak $KEYCLOAK_VERSION ($KEYCLOAK_DB) on :$KEYCLOAK_PORT with $jdk"
    # On Java 24+, Quarkus' worker threads need java.lang opened (thread-local reset); without it they
    # die, and with them work such as the second of several back-channel logouts.
    JAVA_HOME=$jdk JAVA_OPTS_KC_HEAP=${KEYCLOAK_HEAP:-"-Xms64m -Xmx768m"} JAVA_OPTS_APPEND="--add-opens=java.base/java.lang=ALL-UNNAMED ${JAVA_OPTS_APPEND:-}" \
    KC_BOOTSTRAP_ADMIN_USERNAME=${KEYCLOAK_ADMIN:-admin} KC_BOOTSTRAP_ADMIN_PASSWORD=${KEYCLOAK_ADMIN_PASSWORD:-admin} \
      start_server keycloak "$home/bin/kc.sh" start-dev --import-realm --db="$KEYCLOAK_DB" \
        --http-host=127.0.0.1 --http-port="$KEYCLOAK_PORT" --http-management-port="$KEYCLOAK_MANAGEMENT_PORT" \
        --health-enabled=true
  fi
  wait_until keycloak 240 curl -sf "http://127.0.0.1:$KEYCLOAK_MANAGEMENT_PORT/health/ready"
}

components=("$@")
if [ ${#components[@]} -eq 0 ]; then
  components=(nats ferretdb keycloak)
  "$(dirname "$0")/install.sh" k6
fi
for c in "${components[@]}"; do
  case $c in nats|ferretdb|keycloak) ;; *) die "unknown component '$c' (nats, ferretdb, keycloak)" ;; esac
done
"$(dirname "$0")/install.sh" "${components[@]}"
# Start everything first, then wait: Keycloak's start-up overlaps the others'.
for c in "${components[@]}"; do "up_$c" & done
failed=0
for job in $(jobs -p); do wait "$job" || failed=1; done
[ $failed = 0 ] || die "infrastructure did not come up"
log "ready: NATS nats://127.0.0.1:$NATS_PORT, MongoDB protocol mongodb://127.0.0.1:$MONGO_PORT, Keycloak http://127.0.0.1:$KEYCLOAK_PORT (state: $CB_STATE)"
