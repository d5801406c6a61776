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
        // Kubernetes' gRPC probes ask grpc.health.v1, which every service serves.
        expect(container.readinessProbe.grpc).toEqual({ port: 50051 });
        expect(container.livenessProbe.grpc).toEqual({ port: 50051 });
        expect(container.env).toContainEqual({ name: "MONGO_URL", valueFrom: { secretKeyRef: { name: "casebridge-mongo", key: `${name}-url` } } });
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
  }
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
