#!/usr/bin/env bash
# Installs the npm packages of the workspace when package-lock.json changed since the last install
# (a no-op otherwise), so every entry command can call it cheaply.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ]; then exit 0; fi
echo "[deps] installing npm packages" >&2
# Not `npm ci`: npm 11 writes lock files without the other platforms' optional binaries (@swc/core-*,
# @unrs/resolver-binding-*) and then `npm ci` refuses them as out of sync; `npm install` follows the
# lock file and leaves it unchanged.
npm install --no-audit --no-fund --loglevel=error
