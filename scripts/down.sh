#!/usr/bin/env bash
# `npm stop`: stops the gateway and the services that `npm start` started, then the infrastructure.
# Pass --purge to delete the platform's data as well.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
for name in gateway notary judicial court prosecution police; do
  pid=$(pid_of "$name") || continue
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  rm -f "$CB_STATE/pids/$name.pid"
done
bash infra/down.sh "$@"
