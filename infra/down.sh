#!/usr/bin/env bash
# Stops exactly the servers that infra/up.sh started from this state directory (by recorded pid).
# Usage: infra/down.sh [--purge]   (--purge also deletes their data: NATS streams, databases, Keycloak realm)
source "$(dirname "$0")/lib.sh"

for name in keycloak ferretdb nats; do
  pid=$(pid_of "$name") || continue
  log "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && { log "$name did not stop in 30s; killing it"; kill -KILL -- "-$pid" 2>/dev/null || true; }
  rm -f "$CB_STATE/pids/$name.pid"
done
if [ "${1:-}" = --purge ]; then
  log "deleting data in $CB_STATE"
  rm -rf "$CB_STATE/nats" "$CB_STATE/ferretdb" "$CB_STATE"/keycloak-*/data
fi
