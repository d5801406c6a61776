#!/usr/bin/env bash
# Fails when proto/gen differs from what `buf generate` makes of the .proto files (someone edited
# generated code, or changed a .proto without running `npm run proto`).
set -euo pipefail
cd "$(dirname "$0")"
buf lint
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
buf generate -o "$fresh"
buf build -o "$fresh/gen/casebridge.binpb"
if ! diff -ru gen "$fresh/gen"; then
  echo "proto/gen is out of date: run 'npm run proto' and commit the result" >&2
  exit 1
fi
echo "proto: lint clean, generated code matches the .proto files"
