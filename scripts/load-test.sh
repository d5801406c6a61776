#!/usr/bin/env bash
# `npm run load [-- <script> …]`: k6 against the platform of `npm start` (brought up if needed),
# each script of load-tests/ (or those named, e.g. `transfer`), printing k6's summary. The gateway
# is restarted with a high per-user rate limit for the run, then with the normal one.
# Settings: VUS, DURATION (each script has its defaults); VOLUME=<n> first sends n more transfers
# police → prosecution (scripts/demo/seed-volume.ts), e.g. VOLUME=10000 for the 10,000-row read test.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
GATEWAY_PORT=${GATEWAY_PORT:-8088}
scripts=()
for name in "$@"; do [ -f "load-tests/$name.js" ] || die "no load-tests/$name.js"; scripts+=("load-tests/$name.js"); done
[ ${#scripts[@]} -gt 0 ] || scripts=(load-tests/*.js)
bash infra/install.sh k6
bash scripts/up.sh >/dev/null
if [ -n "${VOLUME:-}" ]; then
  log "sending $VOLUME transfers police → prosecution (volume for the read test)"
  NATS_URL=nats://127.0.0.1:$NATS_PORT AUTH_ISSUER=http://127.0.0.1:$KEYCLOAK_PORT/realms/casebridge node scripts/demo/dist/seed-volume.js "$VOLUME"
fi
restart_gateway() {
  stop_server gateway
  RATE_LIMIT_PER_MINUTE=$1 GATEWAY_PORT=$GATEWAY_PORT NATS_URL=nats://127.0.0.1:$NATS_PORT start_server gateway node gateway/dist/main.js
  wait_until gateway 30 curl -sf "http://127.0.0.1:$GATEWAY_PORT/healthz"
}
trap 'restart_gateway 600' EXIT
restart_gateway 1000000
status=0
for script in "${scripts[@]}"; do
  log "k6 run $script"
  env_args=(-e GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" -e KEYCLOAK_URL="http://127.0.0.1:$KEYCLOAK_PORT")
  [ -n "${VUS:-}" ] && env_args+=(-e VUS="$VUS")
  [ -n "${DURATION:-}" ] && env_args+=(-e DURATION="$DURATION")
  "$CB_BIN/k6" run --quiet "${env_args[@]}" "$script" || status=1
done
exit $status
