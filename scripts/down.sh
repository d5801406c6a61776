#!/usr/bin/env bash
# `npm stop`: stops the gateway, the services and the TSA that `npm start` started, then the infrastructure.
# Pass --purge to delete the platform's data as well.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
for name in gateway notary judicial court prosecution police tsa; do stop_server "$name"; done
bash infra/down.sh "$@"
