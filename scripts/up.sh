#!/usr/bin/env bash
# `npm start`: brings the whole platform up on this machine: npm packages, build, infrastructure
# (NATS, FerretDB, Keycloak), the time-stamp authority, the five agency services and the gateway,
# then prints where to look.
# Idempotent: what already runs is left alone. `npm stop` stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
source infra/lib.sh
GATEWAY_PORT=${GATEWAY_PORT:-8088}
SERVICES=(police prosecution court judicial notary)

bash scripts/npm-deps.sh
npm run --silent build
bash infra/up.sh nats ferretdb keycloak

export NATS_URL=nats://127.0.0.1:$NATS_PORT MONGO_URL=mongodb://127.0.0.1:$MONGO_PORT
# Dev PKI (root CA, one CA and seal per agency, the TSA): made once in .data/pki, never committed;
# `init` also adds the TSA to a PKI made before it existed.
export PKI_DIR=${PKI_DIR:-$PWD/.data/pki}
node services/kit/dist/seal/cli.js init --dir "$PKI_DIR"
node services/kit/dist/seal/cli.js publish --dir "$PKI_DIR" --nats "$NATS_URL"
# The time-stamp authority first: the services time-stamp every seal through it (NATS cb.tsa.request).
pid_of tsa >/dev/null || { log "starting tsa (NATS cb.tsa.request)"; start_server tsa node services/tsa/dist/main.js; }
# MONGO_AUTH=on (FerretDB started with authentication by infra/up.sh): one database user per service,
# each service signs in as its own (MONGO_URL with its credentials).
users=$CB_STATE/ferretdb-users.json
if [ "${MONGO_AUTH:-off}" = on ]; then
  node services/kit/dist/mongo-users-cli.js "$users" \
    "mongodb://casebridge-admin:$(cat "$CB_STATE/ferretdb-admin-password")@127.0.0.1:$MONGO_PORT/admin?authSource=admin" "127.0.0.1:$MONGO_PORT"
fi
port=50051
for name in "${SERVICES[@]}"; do
  if ! pid_of "$name" >/dev/null; then
    log "starting $name (gRPC :$port)"
    url=$MONGO_URL
    [ "${MONGO_AUTH:-off}" = on ] && url=$(node -p "require('$users').urls['$name']")
    MONGO_URL=$url GRPC_PORT=$port start_server "$name" node "services/$name/dist/main.js"
  fi
  port=$((port + 1))
done
pid_of gateway >/dev/null || { log "starting gateway (:$GATEWAY_PORT)"; GATEWAY_PORT=$GATEWAY_PORT start_server gateway node gateway/dist/main.js; }

wait_until gateway 60 curl -sf "http://127.0.0.1:$GATEWAY_PORT/healthz"
log "loading demo data (waits for every service)"
node scripts/demo/dist/seed-demo.js

cat <<MSG

CaseBridge is up.
  Web UI (sign in as below)  http://127.0.0.1:$GATEWAY_PORT/
  REST API (OpenAPI 3.1)     http://127.0.0.1:$GATEWAY_PORT/openapi.json
  Keycloak (realm casebridge) http://127.0.0.1:$KEYCLOAK_PORT/realms/casebridge/account   admin console: admin / admin
  NATS                       nats://127.0.0.1:$NATS_PORT   monitoring http://127.0.0.1:$NATS_MONITOR_PORT
  MongoDB protocol (FerretDB) mongodb://127.0.0.1:$MONGO_PORT
  Time-stamp authority       NATS subject cb.tsa.request (RFC 3161; check a token: see README "Trusted time")
  Services (gRPC)            police :50051  prosecution :50052  court :50053  judicial :50054  notary :50055
  Logs                       $CB_STATE/logs/
  Dev PKI (e-seals)          $PKI_DIR   (npm run seal -- verify <file>; npm run seal -- --help)

Demo logins (password 'demo' for all; development only), by unit (each sees its own unit's cases
and those of the units it supervises):
  张家港市 320582
    officer.wang    police-officer            杨舍派出所 320582-PSB-YANGSHE
    leader.qian     unit-leader (alerts)      杨舍派出所 320582-PSB-YANGSHE
    officer.ma      police-officer            金港派出所 320582-PSB-JINGANG
    legal.li        police-legal              公安局法制大队 320582-PSB-LEGAL (supervises 杨舍, 金港)
    custodian.chen  property-custodian        涉案财物管理中心 320582-PSB-PROPERTY
    prosecutor.zhao prosecutor                人民检察院 320582-PRO
    judge.sun       judge                     人民法院 320582-CRT
    clerk.zhou      court-clerk               人民法院 320582-CRT
    lawyer.wu       duty-lawyer               司法局 320582-JUS
    mediator.zheng  mediator                  司法局 320582-JUS
    notary.feng     notary                    公证处 320582-NOT
  常熟市 320581
    officer.zhang   police-officer            虞山派出所 320581-PSB-YUSHAN
    legal.xu        police-legal              公安局法制大队 320581-PSB-LEGAL (supervises 虞山)
    prosecutor.gao  prosecutor                人民检察院 320581-PRO
  platform
    admin.he        platform-admin            320500-OPS

Stop everything with: npm stop
MSG
