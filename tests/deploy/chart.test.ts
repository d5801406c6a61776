import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../integration/support";

// Tools installed by infra/install.sh (scripts/test-all.sh runs it): helm, kubeconform, Kubernetes schemas, k6.
const home = process.env.CASEBRIDGE_HOME ?? path.join(homedir(), ".cache", "casebridge");
const bin = (name: string) => path.join(home, "bin", name);
const K8S_VERSION = process.env.K8S_SCHEMA_VERSION ?? "1.31.0";
const CHART = path.join(repoRoot, "charts", "casebridge");
const REALM = path.join(repoRoot, "infra", "keycloak", "casebridge-realm.json");
const WORKLOADS = ["police", "prosecution", "court", "judicial", "notary", "gateway"];

interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

function render(valuesFile: string): { yaml: string; manifests: Manifest[] } {
  const yaml = execFileSync(bin("helm"), ["template", "cb", CHART, "-f", path.join(CHART, valuesFile), "--set-file", `keycloak.realm=${REALM}`], { encoding: "utf8" });
  return { yaml, manifests: parseAllDocuments(yaml).map((doc) => doc.toJS() as Manifest).filter(Boolean) };
}

const find = (manifests: Manifest[], kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);
const agencies = () => WORKLOADS.filter((w) => w !== "gateway");
/** The paths of the pod's "tls" Secret volume (a peer's certificates from the platform PKI), after checking its Secret name. */
function tlsItems(pod: any, peer: string): string[] {
  const secret = pod.volumes.find((v: any) => v.name === "tls").secret;
  expect(secret.secretName).toBe(`casebridge-tls-${peer}`);
  return secret.items.map((item: any) => item.path);
}
const mongoHosts = (valuesFile: string) => [...Array(valuesFile === "values-prod.yaml" ? 3 : 1).keys()].map((i) => `cb-mongodb-${i}.cb-mongodb:27017`).join(",");

describe.each(["values-dev.yaml", "values-prod.yaml"])("Helm chart with %s", (valuesFile) => {
  let rendered: ReturnType<typeof render>;
  beforeAll(() => {
    rendered = render(valuesFile);
  });

  it("passes helm lint", () => {
    const lint = spawnSync(bin("helm"), ["lint", CHART, "-f", path.join(CHART, valuesFile), "--set-file", `keycloak.realm=${REALM}`, "--strict"], { encoding: "utf8" });
    expect([lint.status, lint.stdout + lint.stderr]).toEqual([0, expect.stringContaining("0 chart(s) failed")]);
  });

  it("renders a Deployment, a Service, probes, a PodDisruptionBudget and a ServiceAccount for the five services and the gateway", () => {
    for (const name of WORKLOADS) {
      const deployment = find(rendered.manifests, "Deployment", `cb-${name}`);
      expect([name, deployment?.kind]).toEqual([name, "Deployment"]);
      const pod = deployment!.spec.template.spec;
      const container = pod.containers[0];
      expect(container.image).toBe(`${valuesFile === "values-prod.yaml" ? "registry.example.org/" : ""}casebridge/${name}:0.1.0`);
      if (name === "gateway") {
        expect(container.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
        expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
        // Sessions are sealed at rest with a key from the gateway's Secret (old keys optional, for rotation).
        expect(container.env).toContainEqual({ name: "SESSION_ENCRYPTION_KEY", valueFrom: { secretKeyRef: { name: "casebridge-gateway", key: "session-encryption-key" } } });
        expect(container.env).toContainEqual({ name: "SESSION_ENCRYPTION_OLD_KEYS", valueFrom: { secretKeyRef: { name: "casebridge-gateway", key: "session-encryption-old-keys", optional: true } } });
      } else {
        // Kubernetes' gRPC probes speak no TLS: they ask grpc.health.v1 on the plaintext health-only port.
        expect(container.readinessProbe.grpc).toEqual({ port: 50052 });
        expect(container.livenessProbe.grpc).toEqual({ port: 50052 });
        const env = Object.fromEntries(container.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
        // Mutual TLS with its own certificate, only the gateway's served; NATS over TLS trusting the root.
        expect(env).toMatchObject({ GRPC_HOST: "0.0.0.0", GRPC_TLS: "on", GRPC_TLS_DIR: "/etc/casebridge/tls", GRPC_TLS_CLIENTS: "gateway", GRPC_HEALTH_PORT: "50052", NATS_TLS_CA: "/etc/casebridge/tls/root.pem" });
        expect(tlsItems(pod, name)).toEqual([`root.pem`, `ca.pem`, `${name}.pem`, `${name}.key.pem`]);
        // Its own Mongo user in its own database, its password from the Secret, over TLS.
        expect(env.MONGO_PASSWORD).toEqual({ secretKeyRef: { name: "casebridge-mongo-auth", key: `${name}-password` } });
        expect(env.MONGO_URL).toBe(
          `mongodb://${name}:$(MONGO_PASSWORD)@${mongoHosts(valuesFile)}/casebridge_${name}?replicaSet=rs0&authSource=casebridge_${name}&tls=true&tlsCAFile=/etc/casebridge/tls/root.pem`,
        );
        expect(container.env.findIndex((e: any) => e.name === "MONGO_PASSWORD")).toBeLessThan(container.env.findIndex((e: any) => e.name === "MONGO_URL"));
        // The agency's PKI Secret is mounted in the layout the service reads, with its own seal only.
        const pki = pod.volumes.find((v: any) => v.name === "pki").secret;
        expect(pki.secretName).toBe(`casebridge-pki-${name}`);
        expect(pki.items).toContainEqual({ key: `${name}-seal.key.pem`, path: `${name}/seal.key.pem` });
        expect(pki.items).toContainEqual({ key: "root-ca.crl", path: "root/ca.crl" });
        expect(pki.items.filter((item: any) => item.path.endsWith("seal.key.pem"))).toHaveLength(1);
      }
      expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
      expect(pod.serviceAccountName).toBe(`cb-${name}`);
      expect(find(rendered.manifests, "Service", `cb-${name}`)).toBeDefined();
      expect(find(rendered.manifests, "ServiceAccount", `cb-${name}`)).toBeDefined();
      expect(find(rendered.manifests, "PodDisruptionBudget", `cb-${name}`)).toBeDefined();
    }
    // The time-stamp authority: its own Deployment, its key from its own Secret, no Service (it answers on NATS).
    const tsa = find(rendered.manifests, "Deployment", "cb-tsa")!.spec.template.spec;
    expect(tsa.volumes.find((v: any) => v.name === "pki").secret.secretName).toBe("casebridge-pki-tsa");
    expect(tsa.containers[0].securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(find(rendered.manifests, "Service", "cb-tsa")).toBeUndefined();
    const config = find(rendered.manifests, "ConfigMap", "cb-config")!;
    expect(config.data!.SERVICE_ADDRESSES).toBe("police=cb-police:50051,prosecution=cb-prosecution:50051,court=cb-court:50051,judicial=cb-judicial:50051,notary=cb-notary:50051");
    expect(find(rendered.manifests, "StatefulSet", "cb-nats")!.spec.replicas).toBe(3);
    // The system of record is replicated on the NATS cluster (R3), on the same exact nats-server as local runs.
    expect(config.data!.JETSTREAM_REPLICAS).toBe("3");
    expect(find(rendered.manifests, "StatefulSet", "cb-nats")!.spec.template.spec.containers[0].image).toBe(`nats:${readFileSync(path.join(repoRoot, "infra/lib.sh"), "utf8").match(/NATS_VERSION=\$\{NATS_VERSION:-v([\d.]+)\}/)![1]}-alpine`);
    expect(find(rendered.manifests, "ConfigMap", "cb-keycloak-realm")!.data!["casebridge-realm.json"]).toContain('"realm": "casebridge"');
  });

  it("validates against the Kubernetes schemas (kubeconform, strict)", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cb-chart-"));
    const file = path.join(dir, "manifests.yaml");
    writeFileSync(file, rendered.yaml);
    const schemas = path.join(home, "k8s-schemas", "{{.NormalizedKubernetesVersion}}-local-strict", "{{.ResourceKind}}{{.KindSuffix}}.json");
    const result = spawnSync(bin("kubeconform"), ["-strict", "-summary", "-kubernetes-version", K8S_VERSION, "-schema-location", schemas, file], { encoding: "utf8" });
    expect([result.status, result.stdout + result.stderr]).toEqual([0, expect.stringMatching(/Invalid: 0, Errors: 0, Skipped: 0/)]);
  });

  if (valuesFile === "values-prod.yaml") {
    it("puts no secret value in the manifests and lets only the gateway reach the agency services", () => {
      expect(rendered.manifests.filter((m) => m.kind === "Secret")).toEqual([]);
      for (const name of WORKLOADS.filter((w) => w !== "gateway")) {
        const policy = find(rendered.manifests, "NetworkPolicy", `cb-${name}`)!;
        expect(policy.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: { "app.kubernetes.io/instance": "cb", "app.kubernetes.io/component": "gateway" } } }], ports: [{ port: 50051, protocol: "TCP" }] }]);
      }
      expect(find(rendered.manifests, "HorizontalPodAutoscaler", "cb-police")!.spec.maxReplicas).toBe(12);
      expect(find(rendered.manifests, "Deployment", "cb-keycloak")!.spec.template.spec.containers[0].args).toContain("start");
    });

    it("runs the gateway's calls over mutual TLS and NATS over TLS, with the platform PKI's certificates", () => {
      const gateway = find(rendered.manifests, "Deployment", "cb-gateway")!.spec.template.spec;
      const env = Object.fromEntries(gateway.containers[0].env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
      expect(env).toMatchObject({ GRPC_TLS: "on", GRPC_TLS_DIR: "/etc/casebridge/tls", NATS_TLS_CA: "/etc/casebridge/tls/root.pem" });
      expect(tlsItems(gateway, "gateway")).toEqual(["root.pem", "ca.pem", "gateway.pem", "gateway.key.pem"]);
      expect(find(rendered.manifests, "ConfigMap", "cb-config")!.data!.NATS_URL).toBe("tls://cb-nats:4222");
      const tsa = find(rendered.manifests, "Deployment", "cb-tsa")!.spec.template.spec.containers[0];
      expect(tsa.env).toContainEqual({ name: "NATS_TLS_CA", value: "/etc/casebridge/pki/root/ca.pem" });
      const conf = find(rendered.manifests, "ConfigMap", "cb-nats")!.data!["nats.conf"]!;
      expect(conf).toContain("tls {\n  cert_file: /etc/nats-tls/nats.pem\n  key_file: /etc/nats-tls/nats.key.pem\n  ca_file: /etc/nats-tls/root.pem\n  timeout: 5\n}");
      expect(conf).toMatch(/cluster \{[\s\S]*tls \{[\s\S]*verify: true[\s\S]*routes/);
      expect(conf).not.toMatch(/^\s*(authorization|accounts)\s*\{/m); // the authorization block is its own file, included
      const nats = find(rendered.manifests, "StatefulSet", "cb-nats")!.spec.template.spec;
      expect(tlsItems(nats, "nats")).toEqual(["root.pem", "ca.pem", "nats.pem", "nats.key.pem"]);
    });

    it("runs NATS with the platform's users and permissions (the committed authorization file) and gives each process only its own nkey", () => {
      const config = find(rendered.manifests, "ConfigMap", "cb-nats")!.data!;
      expect(config["nats.conf"]).toContain('include "authorization.conf"');
      expect(config["authorization.conf"]).toBe(readFileSync(path.join(CHART, "files", "nats-authorization.conf"), "utf8"));
      const nats = find(rendered.manifests, "StatefulSet", "cb-nats")!.spec.template.spec.containers[0];
      expect(nats.envFrom).toContainEqual({ secretRef: { name: "casebridge-nats-users" } });
      for (const [kind, name, user] of [...WORKLOADS.map((w) => ["Deployment", `cb-${w}`, w]), ["Deployment", "cb-tsa", "tsa"]] as const) {
        const pod = find(rendered.manifests, kind, name)!.spec.template.spec;
        expect([name, pod.containers[0].env]).toEqual([name, expect.arrayContaining([{ name: "NATS_NKEY_FILE", value: "/etc/casebridge/nats/nkey.seed" }])]);
        expect([name, pod.containers[0].volumeMounts]).toEqual([name, expect.arrayContaining([{ name: "nats-user", mountPath: "/etc/casebridge/nats", readOnly: true }])]);
        const volume = pod.volumes.find((v: any) => v.name === "nats-user");
        expect([name, volume.secret]).toMatchObject([name, { secretName: `casebridge-nats-${user}`, items: [{ key: "nkey.seed", path: "nkey.seed" }] }]);
      }
    });

    it("runs MongoDB with --auth, a keyFile and requireTLS, and makes one user per service with readWrite on its own database only", () => {
      const mongo = find(rendered.manifests, "StatefulSet", "cb-mongodb")!.spec.template.spec;
      const args: string[] = mongo.containers[0].args;
      expect(args).toEqual(expect.arrayContaining(["--auth", "--keyFile=/run/mongodb/keyfile", "--tlsMode=requireTLS", "--tlsCertificateKeyFile=/run/mongodb/server.pem", "--tlsCAFile=/run/mongodb/ca.pem"]));
      expect(mongo.volumes.find((v: any) => v.name === "auth").secret).toMatchObject({ secretName: "casebridge-mongo-auth", items: [{ key: "keyfile", path: "keyfile" }] });
      expect(mongo.initContainers[0].command.join(" ")).toContain("install -m 0400 /secrets/auth/keyfile /run/mongodb/keyfile");
      expect(tlsItems(mongo, "mongodb")).toEqual(["root.pem", "ca.pem", "mongodb.pem", "mongodb.key.pem"]);
      expect(mongo.containers[0].env).toContainEqual({ name: "MONGO_INITDB_ROOT_PASSWORD", valueFrom: { secretKeyRef: { name: "casebridge-mongo-auth", key: "root-password" } } });
      expect(mongo.containers[0].readinessProbe.exec.command).toEqual(expect.arrayContaining(["--tls", "--tlsCAFile"]));
      const job = find(rendered.manifests, "Job", "cb-mongodb-init")!;
      expect(job.metadata).toMatchObject({ annotations: { "helm.sh/hook": "post-install,post-upgrade" } });
      const users = job.spec.template.spec.containers[0];
      const script: string = users.command.at(-1);
      const agencies = WORKLOADS.filter((w) => w !== "gateway");
      expect(script).toContain(`for (const service of ${JSON.stringify(agencies)})`);
      expect(script).toContain('roles: [{ role: "readWrite", db: `casebridge_${service}` }]');
      expect(script.match(/role:/g)).toHaveLength(1); // no other role for anybody
      expect(script).toContain("tls=true&tlsCAFile=/etc/casebridge/tls/root.pem");
      for (const agency of agencies) {
        expect(users.env).toContainEqual({ name: `PASSWORD_${agency.toUpperCase()}`, valueFrom: { secretKeyRef: { name: "casebridge-mongo-auth", key: `${agency}-password` } } });
      }
    });

    it("admits each caller only where it must go: MongoDB from the agency services, NATS from the processes that use it, Keycloak from the gateway, the services and the ingress", () => {
      const sources = (name: string) => find(rendered.manifests, "NetworkPolicy", name)!.spec.ingress.map((rule: any) => ({ from: rule.from.map((peer: any) => peer.podSelector?.matchLabels ?? peer.namespaceSelector), ports: rule.ports }));
      const release = { "app.kubernetes.io/instance": "cb" };
      const component = (c: string) => ({ ...release, "app.kubernetes.io/component": c });
      const agencyServices = { ...release, "casebridge.io/role": "agency-service" };
      const ingress = { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } };
      expect(sources("cb-mongodb")).toEqual([{ from: [agencyServices, component("mongodb-init"), component("mongodb")], ports: [{ port: 27017, protocol: "TCP" }] }]);
      expect(sources("cb-nats")).toEqual([
        { from: [agencyServices, component("gateway"), component("tsa")], ports: [{ port: 4222, protocol: "TCP" }] },
        { from: [component("nats")], ports: [{ port: 6222, protocol: "TCP" }] },
      ]);
      expect(sources("cb-keycloak")).toEqual([{ from: [ingress, component("gateway"), agencyServices], ports: [{ port: 8080, protocol: "TCP" }] }]);
      expect(sources("cb-gateway")).toEqual([{ from: [ingress], ports: [{ port: 8088, protocol: "TCP" }] }]);
      // Nothing admits the whole release any more.
      for (const policy of rendered.manifests.filter((m) => m.kind === "NetworkPolicy")) {
        for (const rule of policy.spec.ingress) for (const peer of rule.from) if (peer.podSelector) expect(Object.keys(peer.podSelector.matchLabels).length).toBeGreaterThan(1);
      }
      // The agency pods carry the label the policies select them by.
      for (const name of agencies()) expect(find(rendered.manifests, "Deployment", `cb-${name}`)!.spec.template.metadata.labels).toMatchObject(agencyServices);
    });
  }
});

describe("Helm chart switches", () => {
  const template = (...set: string[]) =>
    spawnSync(bin("helm"), ["template", "cb", CHART, "-f", path.join(CHART, "values-prod.yaml"), ...set.flatMap((s) => ["--set", s])], { encoding: "utf8" });

  it("refuses tls.enabled=false (the services take plaintext gRPC on loopback only)", () => {
    const result = template("tls.enabled=false");
    expect([result.status, result.stderr]).toEqual([1, expect.stringContaining("tls.enabled: false is refused")]);
  });

  it("takes NATS's certificate from cert-manager when tls.certManager.enabled, and lets nats.conf include an authorization file", () => {
    const result = template("tls.certManager.enabled=true", "nats.includes[0]=/etc/nats-auth/authorization.conf");
    expect(result.status).toBe(0);
    const manifests = parseAllDocuments(result.stdout).map((doc) => doc.toJS() as Manifest).filter(Boolean);
    const certificate = find(manifests, "Certificate", "cb-nats")!;
    expect(certificate.spec).toMatchObject({ secretName: "cb-nats-cert-manager-tls", usages: ["digital signature", "server auth", "client auth"], issuerRef: { kind: "Issuer", name: "casebridge-tls-ca" } });
    expect(certificate.spec.dnsNames).toEqual(expect.arrayContaining(["cb-nats", "cb-nats.default.svc.cluster.local", "*.cb-nats-cluster"]));
    const conf = find(manifests, "ConfigMap", "cb-nats")!.data!["nats.conf"]!;
    expect(conf).toContain("cert_file: /etc/nats-tls/tls.crt");
    expect(conf).toContain('include "/etc/nats-auth/authorization.conf"');
    const nats = find(manifests, "StatefulSet", "cb-nats")!.spec.template.spec;
    expect(nats.volumes.find((v: any) => v.name === "tls").secret.secretName).toBe("cb-nats-cert-manager-tls");
  });
});

describe("Keycloak realm (imported by npm start and the chart)", () => {
  type Client = { clientId: string; publicClient?: boolean; standardFlowEnabled?: boolean; implicitFlowEnabled?: boolean; directAccessGrantsEnabled?: boolean; redirectUris?: string[]; attributes?: Record<string, string> };
  const realm = JSON.parse(readFileSync(REALM, "utf8")) as { clients: Client[] };
  const testClients = JSON.parse(readFileSync(path.join(repoRoot, "infra", "keycloak", "test-clients.json"), "utf8")) as Client[];

  it("has no password-grant client: the tests' clients live in test-clients.json, which only npm test adds", () => {
    expect(realm.clients.filter((c) => c.directAccessGrantsEnabled !== false).map((c) => c.clientId)).toEqual([]);
    expect(realm.clients.filter((c) => c.clientId.startsWith("casebridge-test")).map((c) => c.clientId)).toEqual([]);
    expect(testClients.map((c) => [c.clientId, c.directAccessGrantsEnabled])).toEqual([
      ["casebridge-test", true],
      ["casebridge-test-noaud", true],
      ["casebridge-test-short", true],
    ]);
  });

  it("lets the command-line tools sign in only with the code flow and PKCE (S256) to a loopback address", () => {
    const cli = realm.clients.find((c) => c.clientId === "casebridge-cli")!;
    expect([cli.publicClient, cli.standardFlowEnabled, cli.implicitFlowEnabled, cli.directAccessGrantsEnabled, cli.redirectUris, cli.attributes?.["pkce.code.challenge.method"]]).toEqual([
      true,
      true,
      false,
      false,
      ["http://127.0.0.1/cli-callback"],
      "S256",
    ]);
  });
});

describe("k6 scripts", () => {
  it.each(readdirSync(path.join(repoRoot, "load-tests")).filter((f) => f.endsWith(".js")))("k6 inspect accepts %s", (script) => {
    const result = spawnSync(bin("k6"), ["inspect", path.join(repoRoot, "load-tests", script)], { encoding: "utf8" });
    expect([result.status, result.stderr]).toEqual([0, ""]);
    expect(JSON.parse(result.stdout)).toMatchObject({ thresholds: expect.any(Object) });
  });
});

describe("skaffold.yaml", () => {
  it.each(["dev", "prod"])("skaffold (v2) accepts it with the %s profile and builds every process with the chart", (profile) => {
    const result = spawnSync(bin("skaffold"), ["diagnose", "--yaml-only", "--profile", profile, "--filename", "skaffold.yaml"], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, SKAFFOLD_UPDATE_CHECK: "false", SKAFFOLD_DISABLE_TELEMETRY: "true" },
    });
    expect([result.status, result.stderr]).toEqual([0, ""]);
    const config = parseAllDocuments(result.stdout)[0]!.toJS();
    expect(config.apiVersion).toMatch(/^skaffold\/v4/);
    expect(config.build.artifacts.map((a: any) => [a.image, a.docker.buildArgs.SERVICE])).toEqual(["tsa", ...WORKLOADS].map((name) => [`casebridge/${name}`, name]));
    expect(config.deploy.helm.releases[0]).toMatchObject({ chartPath: CHART, valuesFiles: [path.join(CHART, "values.yaml"), path.join(CHART, `values-${profile}.yaml`)] });
  });
});
