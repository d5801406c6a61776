#!/usr/bin/env bash
# `npm run bench:transfer`: starts NATS, FerretDB and Keycloak on ports of their own (24222, 47017,
# 38180), runs the transfer benchmark (tests/bench/transfer.bench.ts) and stops them again.
set -euo pipefail
cd "$(dirname "$0")/.."
export CASEBRIDGE_STATE=${CASEBRIDGE_BENCH_STATE:-${CASEBRIDGE_HOME:-$HOME/.cache/casebridge}/state/bench}
export NATS_PORT=${BENCH_NATS_PORT:-24222} NATS_MONITOR_PORT=${BENCH_NATS_MONITOR_PORT:-28222}
export MONGO_PORT=${BENCH_MONGO_PORT:-47017} FERRETDB_DEBUG_PORT=${BENCH_FERRETDB_DEBUG_PORT:-47018}
export KEYCLOAK_PORT=${BENCH_KEYCLOAK_PORT:-38180} KEYCLOAK_MANAGEMENT_PORT=${BENCH_KEYCLOAK_MANAGEMENT_PORT:-39180} KEYCLOAK_DB=dev-mem
export BENCH_NATS_URL=nats://127.0.0.1:$NATS_PORT BENCH_MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT
export NATS_CREDENTIALS_DIR=$CASEBRIDGE_STATE/nats-auth
export BENCH_AUTH_ISSUER=http://127.0.0.1:$KEYCLOAK_PORT/realms/casebridge

bash scripts/npm-deps.sh
npx tsc -b
trap 'bash infra/down.sh --purge' EXIT
bash infra/up.sh nats ferretdb keycloak
node tests/dist/bench/transfer.bench.js
