#!/usr/bin/env bash
# `npm run load`: k6 against the platform of `npm start` (brought up if needed). The gateway is
# restarted with a high per-user rate limit for the run, then restarted with the normal one.
# Settings: VUS (20), DURATION (60s).
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
GATEWAY_PORT=${GATEWAY_PORT:-8088}
bash infra/install.sh k6
bash scripts/up.sh >/dev/null
restart_gateway() {
  stop_server gateway
  RATE_LIMIT_PER_MINUTE=$1 GATEWAY_PORT=$GATEWAY_PORT NATS_URL=nats://127.0.0.1:$NATS_PORT start_server gateway node gateway/dist/main.js
  wait_until gateway 30 curl -sf "http://127.0.0.1:$GATEWAY_PORT/healthz"
}
trap 'restart_gateway 600' EXIT
restart_gateway 1000000
"$CB_BIN/k6" run --quiet -e GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" -e KEYCLOAK_URL="http://127.0.0.1:$KEYCLOAK_PORT" load-tests/inbox-timeline.js
