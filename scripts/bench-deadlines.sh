#!/usr/bin/env bash
# `npm run bench:deadlines`: 100,000 deadline timers as nats-server schedules, fired across a kill -9
# and restart of nats-server (its own, on port 24322, data in a temporary directory); prints one JSON
# line with the firing delay, lost and doubled timers, and an in-process-timer baseline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
bash infra/install.sh nats
npx tsc -b
# The benchmark's nats-server runs with the platform's authorization: users' keys of a state of its own.
export NATS_CREDENTIALS_DIR=${CASEBRIDGE_HOME:-$HOME/.cache/casebridge}/state/bench-deadlines/nats-auth
node services/kit/dist/nats-auth/cli.js init --dir "$NATS_CREDENTIALS_DIR" >/dev/null
node tests/dist/bench/deadlines.bench.js
