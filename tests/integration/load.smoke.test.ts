import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startPlatform, type Platform } from "./platform";
import { infra, repoRoot } from "./support";

const run = promisify(execFile);
const k6 = path.join(process.env.CASEBRIDGE_HOME ?? path.join(homedir(), ".cache", "casebridge"), "bin", "k6");
// Writes before reads, so that the read scenarios find transfers to read.
const SCRIPTS = readdirSync(path.join(repoRoot, "load-tests"))
  .filter((f) => f.endsWith(".js"))
  .sort((a, b) => Number(b === "transfer.js") - Number(a === "transfer.js"));

interface Summary {
  metrics: Record<string, { count?: number; thresholds?: Record<string, boolean> }>;
}

// A few seconds of each load test against the real platform (in this process, so k6 runs
// asynchronously): the script works, finishes iterations and meets its thresholds.
describe("k6 smoke runs", () => {
  let platform: Platform;
  let gatewayUrl: string;

  beforeAll(async () => {
    platform = await startPlatform("k6");
    gatewayUrl = (await platform.gatewayWith({ RATE_LIMIT_PER_MINUTE: "1000000" })).url;
  }, 120_000);
  afterAll(() => platform?.stop());

  it.each(SCRIPTS)("%s passes its thresholds", async (script) => {
    const summaryFile = path.join(mkdtempSync(path.join(tmpdir(), "cb-k6-")), "summary.json");
    const args = ["run", "--quiet", "--no-color", "--summary-export", summaryFile, "-e", `GATEWAY_URL=${gatewayUrl}`, "-e", `KEYCLOAK_URL=${infra.keycloakUrl}`, "-e", "VUS=2", "-e", "DURATION=4s"];
    await run(k6, [...args, path.join(repoRoot, "load-tests", script)], { timeout: 90_000 }); // rejects when a threshold fails (exit 99)
    const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as Summary;
    expect(summary.metrics.iterations?.count).toBeGreaterThan(0);
    expect(summary.metrics.http_reqs!.count).toBeGreaterThan(10);
    const failed = Object.entries(summary.metrics).flatMap(([metric, m]) => Object.entries(m.thresholds ?? {}).filter(([, crossed]) => crossed).map(([threshold]) => `${metric}: ${threshold}`));
    expect(failed).toEqual([]);
  }, 120_000);
});
