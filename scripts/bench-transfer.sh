#!/usr/bin/env bash
# `npm run bench:transfer`: starts NATS and FerretDB on ports of their own (24222, 47017), runs the
# transfer benchmark (tests/bench/transfer.bench.ts) and stops them again.
set -euo pipefail
cd "$(dirname "$0")/.."
export CASEBRIDGE_STATE=${CASEBRIDGE_BENCH_STATE:-${CASEBRIDGE_HOME:-$HOME/.cache/casebridge}/state/bench}
export NATS_PORT=${BENCH_NATS_PORT:-24222} NATS_MONITOR_PORT=${BENCH_NATS_MONITOR_PORT:-28222}
export MONGO_PORT=${BENCH_MONGO_PORT:-47017} FERRETDB_DEBUG_PORT=${BENCH_FERRETDB_DEBUG_PORT:-47018}
export BENCH_NATS_URL=nats://127.0.0.1:$NATS_PORT BENCH_MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT

bash scripts/npm-deps.sh
npx tsc -b
trap 'bash infra/down.sh --purge' EXIT
bash infra/up.sh nats ferretdb
node tests/dist/bench/transfer.bench.js
