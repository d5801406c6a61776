# syntax=docker/dockerfile:1.7
# One image recipe for every CaseBridge process. Pick it with --build-arg SERVICE=<name>:
#   police | prosecution | court | judicial | notary | gateway
#   docker build --build-arg SERVICE=police -t casebridge/police .
# Stages: build (compiles the whole workspace once, cached for every SERVICE), deps (production
# npm packages of the chosen workspace only), runtime (distroless Node.js, non-root, no shell).
ARG NODE_IMAGE=node:20.19-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Manifests first: the npm layer is rebuilt only when dependencies change.
COPY package.json package-lock.json ./
COPY proto/package.json proto/
COPY services/kit/package.json services/kit/
COPY services/tsa/package.json services/tsa/
COPY services/police/package.json services/police/
COPY services/prosecution/package.json services/prosecution/
COPY services/court/package.json services/court/
COPY services/judicial/package.json services/judicial/
COPY services/notary/package.json services/notary/
COPY gateway/package.json gateway/
RUN npm install --no-audit --no-fund --ignore-scripts --loglevel=error
COPY tsconfig.base.json ./
COPY proto proto
COPY services services
COPY gateway gateway
RUN npx tsc -b proto services/kit services/tsa services/police services/prosecution services/court services/judicial services/notary gateway \
 && npm run build:ui -w @casebridge/gateway

FROM build AS deps
ARG SERVICE=police
# Only the production packages the chosen process needs, then its files under /app/service.
RUN set -eu; \
    case "$SERVICE" in gateway) dir=gateway ;; tsa|police|prosecution|court|judicial|notary) dir="services/$SERVICE" ;; *) echo "unknown SERVICE '$SERVICE'" >&2; exit 2 ;; esac; \
    rm -rf node_modules; \
    npm install --omit=dev --no-audit --no-fund --ignore-scripts --loglevel=error --workspace "$dir" --workspace services/kit --workspace proto; \
    mkdir -p /app/proto/gen /app/services/kit /app/service; \
    cp -a package.json node_modules /app/; \
    cp -a proto/package.json proto/dist /app/proto/; cp proto/gen/casebridge.binpb /app/proto/gen/; \
    cp -a services/kit/package.json services/kit/dist /app/services/kit/; \
    cp -a "$dir/package.json" "$dir/dist" /app/service/; \
    if [ -d "$dir/node_modules" ]; then cp -a "$dir/node_modules" /app/service/; fi

FROM ${RUNTIME_IMAGE} AS runtime
WORKDIR /app
COPY --from=deps --chown=65532:65532 /app /app
ENV NODE_ENV=production PKI_DIR=/etc/casebridge/pki
USER 65532:65532
# gRPC (services) or HTTP (gateway); the chart sets the ports.
EXPOSE 50051 8088
CMD ["service/dist/main.js"]
