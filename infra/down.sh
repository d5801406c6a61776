#!/usr/bin/env bash
# Stops exactly the servers that infra/up.sh started from this state directory (by recorded pid).
# Usage: infra/down.sh [--purge]   (--purge also deletes their data: NATS streams, databases, Keycloak realm)
source "$(dirname "$0")/lib.sh"

for name in keycloak ferretdb nats; do stop_server "$name"; done
if [ "${1:-}" = --purge ]; then
  log "deleting data in $CB_STATE"
  rm -rf "$CB_STATE/nats" "$CB_STATE/ferretdb" "$CB_STATE"/keycloak-*/data
fi
