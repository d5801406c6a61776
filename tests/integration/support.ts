import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { readFileSync } from "node:fs";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { devUserToken, natsAuthOptions, natsClient, type SealAgency } from "@casebridge/kit";
import { transfer as pb, trust as tpb } from "@casebridge/proto";
import { startTimeStampService, type RunningTimeStampService } from "@casebridge/tsa/service";

/** Where the test infrastructure listens (started by scripts/test-all.sh; ports from the environment). */
export const infra = {
  natsUrl: process.env.TEST_NATS_URL ?? "nats://127.0.0.1:14222",
  mongoUrl: process.env.TEST_MONGO_URL ?? "mongodb://127.0.0.1:37017",
  keycloakUrl: process.env.TEST_KEYCLOAK_URL ?? "http://127.0.0.1:18180",
  /** PKI of the services under test (made by scripts/test-all.sh; else the dev PKI of `npm run seal -- init`). */
  pkiDir: process.env.TEST_PKI_DIR ?? path.resolve(__dirname, "../../.data/pki"),
  /** The NATS users' nkey seeds (made by infra/up.sh in the test state directory). */
  natsCredentialsDir: process.env.NATS_CREDENTIALS_DIR ?? path.join(process.env.HOME ?? "", ".cache/casebridge/state/test/nats-auth"),
};

/** NATS settings of a process under test: its URL and where its nkey seed is (each process picks its own user's). */
export function natsEnv(natsUrl = infra.natsUrl): { NATS_URL: string; NATS_CREDENTIALS_DIR: string } {
  return { NATS_URL: natsUrl, NATS_CREDENTIALS_DIR: infra.natsCredentialsDir };
}

/** Connection options of the test harness itself: the operator's NATS user (resets streams, plays hostile publishers). */
export function asOperator(): Partial<ConnectionOptions> {
  return natsAuthOptions("operator", path.join(infra.natsCredentialsDir, "operator.nk"));
}

/** The issuer of the test realm's tokens, which the services under test verify. */
export const authIssuer = `${infra.keycloakUrl}/realms/casebridge`;

/** An access token of a demo user from the real Keycloak. */
export function tokenFor(username: string): Promise<string> {
  return devUserToken(authIssuer, username);
}

/** The repository root. */
export const repoRoot = path.resolve(__dirname, "../..");

/** A logger that writes nothing, for in-process services under test. */
export const quietLogger = pino({ level: "silent" });

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** A process started from the built workspace, with its output kept for assertions. */
export interface Spawned {
  child: ChildProcess;
  output(): string;
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `node <script>` (a built main.js, relative to the repo root) with `env` on top of a clean environment. */
export function spawnNode(script: string, env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, [path.join(repoRoot, script)], {
    env: { PATH: process.env.PATH ?? "", PKI_DIR: infra.pkiDir, NATS_CREDENTIALS_DIR: infra.natsCredentialsDir, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters: (() => void)[] = [];
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    waiters.forEach((w) => w());
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => output,
    exited,
    waitForOutput: (pattern, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(pattern)}; output so far:\n${output}`)), timeoutMs);
        const check = () => {
          if (pattern.test(output)) {
            clearTimeout(timer);
            resolve();
          }
        };
        waiters.push(check);
        void exited.then(() => {
          if (!pattern.test(output)) {
            clearTimeout(timer);
            reject(new Error(`process exited before ${String(pattern)}; output:\n${output}`));
          }
        });
        check();
      }),
  };
}

/** Polls `probe` until it resolves, or fails after `timeoutMs` with the last error. */
export async function eventually<T>(probe: () => Promise<T>, timeoutMs = 15_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await probe();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}

/** Starts the platform time-stamp authority in this process on `natsUrl` (services seal only with its tokens); start it before the services, stop it after them. */
export function startTsa(natsUrl = infra.natsUrl): Promise<RunningTimeStampService> {
  return startTimeStampService({ ...natsEnv(natsUrl), PKI_DIR: infra.pkiDir, LOG_LEVEL: "silent" });
}

/** The nats-server binary infra/install.sh built (an exact version from the Go module proxy). */
export function natsServerBinary(): string {
  const home = process.env.CASEBRIDGE_HOME ?? path.join(process.env.HOME ?? "", ".cache/casebridge");
  return path.join(home, "bin", "nats-server");
}

/**
 * Deletes the durable runtime's streams and buckets (aggregates, ledger, audit, transfers, timers)
 * on the test NATS, so that services with fresh databases start from a fresh history too, as a new
 * platform would. Each test file that starts agency services calls it first.
 */
export async function resetRuntimeStreams(natsUrl = infra.natsUrl): Promise<void> {
  const nc = await connect({ ...asOperator(), servers: natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) {
      if (/^(KV_cb_(police|prosecution|court|judicial|notary)|CB_AUDIT_.+|CB_LEDGER|CB_TRANSFERS|CB_TIMERS(_.+)?|CB_DEAD_LETTERS)$/.test(name)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}

/**
 * Starts a nats-server of the caller's own (JetStream in `storeDir`), with the platform's
 * authorization file and the test users' keys, so that a test can kill and restart it; resolves once it answers.
 */
export async function startNats(port: number, storeDir: string, extraArgs: string[] = [], clientOptions: Partial<ConnectionOptions> = {}): Promise<ChildProcess> {
  const keys = Object.fromEntries(
    readFileSync(path.join(infra.natsCredentialsDir, "public-keys.env"), "utf8")
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
  );
  const args = ["-c", path.join(repoRoot, "infra/nats/local.conf"), "-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir, ...extraArgs];
  const server = spawn(natsServerBinary(), args, { stdio: "ignore", env: { ...process.env, ...keys, NATS_SERVER_NAME: `casebridge-${port}` } });
  await eventually(async () => {
    const nc = await connect({ ...asOperator(), ...clientOptions, servers: `nats://127.0.0.1:${port}`, reconnect: false });
    await nc.close();
  });
  return server;
}

/** NATS clients of the agency services' contracts, as the tests call them (each call carries a user's token). */
export function serviceClients(nc: NatsConnection, timeoutMs = 15_000) {
  return {
    policeCases: natsClient(nc, "police", pb.CaseFileServiceDefinition, timeoutMs),
    policeTransfers: natsClient(nc, "police", pb.TransferServiceDefinition, timeoutMs),
    prosecutionTransfers: natsClient(nc, "prosecution", pb.TransferServiceDefinition, timeoutMs),
    prosecution: natsClient(nc, "prosecution", pb.ProsecutionServiceDefinition, timeoutMs),
    courtTransfers: natsClient(nc, "court", pb.TransferServiceDefinition, timeoutMs),
    court: natsClient(nc, "court", pb.CourtServiceDefinition, timeoutMs),
    incidentsAt: (agency: SealAgency) => natsClient(nc, agency, tpb.IncidentServiceDefinition, timeoutMs),
  };
}
