#!/usr/bin/env bash
# `npm test`: runs every test on a fresh or a used machine. Installs npm packages and the test
# infrastructure (NATS, FerretDB, Keycloak on ports of their own, so a running dev platform is not
# disturbed) and Chromium, checks contracts/types/lint, builds, runs unit, integration and browser
# tests, and stops and wipes the test infrastructure afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

export CASEBRIDGE_STATE=${CASEBRIDGE_TEST_STATE:-${CASEBRIDGE_HOME:-$HOME/.cache/casebridge}/state/test}
export NATS_PORT=${TEST_NATS_PORT:-14222} NATS_MONITOR_PORT=${TEST_NATS_MONITOR_PORT:-18222}
export MONGO_PORT=${TEST_MONGO_PORT:-37017} FERRETDB_DEBUG_PORT=${TEST_FERRETDB_DEBUG_PORT:-37018}
export KEYCLOAK_PORT=${TEST_KEYCLOAK_PORT:-18180} KEYCLOAK_MANAGEMENT_PORT=${TEST_KEYCLOAK_MANAGEMENT_PORT:-19180}
export KEYCLOAK_DB=dev-mem
export KEYCLOAK_TEST_CLIENTS=1   # the password-grant clients of the tests (infra/keycloak/test-clients.json); never in `npm start`'s or the chart's realm
export NATS_CREDENTIALS_DIR=$CASEBRIDGE_STATE/nats-auth   # the NATS users' nkey seeds (infra/up.sh makes them)
# The test Keycloak's realm sends back-channel logouts to the browser tests' gateway (the realm's ${CASEBRIDGE_GATEWAY_URL}).
export CASEBRIDGE_GATEWAY_URL=http://127.0.0.1:${TEST_GATEWAY_PORT:-18088}
export TEST_NATS_URL=nats://127.0.0.1:$NATS_PORT TEST_MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT TEST_KEYCLOAK_URL=http://127.0.0.1:$KEYCLOAK_PORT

bash scripts/npm-deps.sh
echo "[test] checking contracts, types and lint" >&2
npm run --silent check
npm run --silent build:ui -w @casebridge/gateway
# Debian's chromium (and a CJK font) for the browser tests, k6 for the load smoke runs, helm,
# kubeconform, the Kubernetes schemas and skaffold for the chart checks: built or fetched once, then cached.
bash infra/install.sh chromium k6 helm kubeconform k8s-schemas skaffold

trap 'bash infra/down.sh --purge; rm -rf "$TEST_PKI_DIR"' EXIT
bash infra/up.sh nats ferretdb keycloak
# A PKI of its own for the tests (fresh each run; the dev PKI in .data/pki is left alone).
export TEST_PKI_DIR=$CASEBRIDGE_STATE/pki
rm -rf "$TEST_PKI_DIR"
node services/kit/dist/seal/cli.js init --dir "$TEST_PKI_DIR"

mkdir -p test-results
status=0
npx jest --runInBand --json --outputFile=test-results/jest.json || status=$?
node scripts/test-summary.js test-results/jest.json || status=1
echo "[test] finished in $((SECONDS - started))s" >&2
exit $status
