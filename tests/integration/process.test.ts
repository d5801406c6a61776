import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { EXIT_CONFIG, EXIT_UNAVAILABLE, natsClient } from "@casebridge/kit";
import { system } from "@casebridge/proto";
import { asOperator, authIssuer, eventually, freePort, infra, natsEnv, type Spawned, spawnNode, startNats, tokenFor } from "./support";

const SERVICES = ["police", "prosecution", "court", "judicial", "notary"];

/** The grpc.health.v1 status ("SERVING", "NOT_SERVING") of the server at `address`. */
async function grpcHealth(address: string): Promise<string> {
  const Client = grpc.makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
    check(req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
  };
  try {
    return await new Promise<string>((resolve, reject) => client.check({ service: "" }, (err, res) => (err ? reject(err) : resolve(res.status))));
  } finally {
    client.close();
  }
}

function stopProcess(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

describe("service processes (built main.js)", () => {
  it("reconnects to NATS after the server restarts, without a restart of its own", async () => {
    const port = await freePort();
    const store = mkdtempSync(path.join(tmpdir(), "cb-nats-"));
    let nats = await startNats(port, store);
    const natsUrl = `nats://127.0.0.1:${port}`;
    const grpcAddress = `127.0.0.1:${await freePort()}`;
    const police = spawnNode("services/police/dist/main.js", { ...natsEnv(natsUrl), MONGO_URL: infra.mongoUrl, GRPC_PORT: grpcAddress.split(":")[1] ?? "", MONGO_DB: "it_restart" });
    let nc: NatsConnection | undefined;
    // Whatever fails, the process and the server stop (a leaked one would keep jest from exiting).
    try {
      nc = await connect({ ...asOperator(), servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 200, timeout: 60_000 });
      await police.waitForOutput(/service started/);
      const client = natsClient(nc, "police", system.SystemServiceDefinition, 2000);
      await expect(client.getInfo({})).resolves.toMatchObject({ service: "police" });

      await stopProcess(nats, "SIGKILL");
      await police.waitForOutput(/NATS connection lost/);
      expect(await grpcHealth(grpcAddress)).toBe("NOT_SERVING"); // readiness probes take it out of rotation
      nats = await startNats(port, store);

      await police.waitForOutput(/NATS connection restored/);
      const info = await eventually(() => client.getInfo({}));
      expect(info.service).toBe("police");
      expect(police.child.exitCode).toBeNull();
      expect(await grpcHealth(grpcAddress)).toBe("SERVING");
      await expect(client.checkHealth({})).resolves.toMatchObject({ status: system.ServingStatus.SERVING_STATUS_SERVING });
    } finally {
      await nc?.close();
      await stopProcess(police.child);
      await stopProcess(nats);
      rmSync(store, { recursive: true, force: true });
    }
  }, 60_000);

  it("stops cleanly on SIGTERM with exit code 0", async () => {
    const court = spawnNode("services/court/dist/main.js", { ...natsEnv(infra.natsUrl), MONGO_URL: infra.mongoUrl, GRPC_PORT: "0", MONGO_DB: "it_sigterm" });
    await court.waitForOutput(/service started/);
    court.child.kill("SIGTERM");
    await expect(court.exited).resolves.toEqual({ code: 0, signal: null });
    expect(court.output()).toMatch(/"msg":"stopped"/);
  });

  const oneLineFailures: [string, Record<string, string>, number, RegExp][] = [
    ["a missing NATS URL", { MONGO_URL: infra.mongoUrl }, EXIT_CONFIG, /^police: invalid configuration: NATS_URL is required\n$/],
    ["a malformed port", { ...natsEnv(infra.natsUrl), MONGO_URL: infra.mongoUrl, GRPC_PORT: "http" }, EXIT_CONFIG, /^police: invalid configuration: GRPC_PORT must be an integer/],
    ["an unreachable MongoDB", { ...natsEnv(infra.natsUrl), MONGO_URL: "mongodb://127.0.0.1:9", MONGO_CONNECT_ATTEMPTS: "2", MONGO_CONNECT_TIMEOUT_MS: "300" }, EXIT_UNAVAILABLE, /^police: cannot reach MongoDB at mongodb:\/\/127.0.0.1:9 after 2 attempt\(s\)/],
    ["a missing PKI", { ...natsEnv(infra.natsUrl), MONGO_URL: infra.mongoUrl, PKI_DIR: "/nonexistent/pki" }, EXIT_CONFIG, /^police: invalid configuration: PKI: \/nonexistent\/pki\/pki.json is missing \(create the dev PKI with: npm run seal -- init\)\n$/],
    ["an unreachable NATS", { NATS_URL: "nats://127.0.0.1:9", MONGO_URL: infra.mongoUrl, NATS_CONNECT_ATTEMPTS: "1" }, EXIT_UNAVAILABLE, /^police: cannot reach NATS at nats:\/\/127.0.0.1:9 after 1 attempt\(s\)/],
  ];
  it.each(oneLineFailures)("ends with one clear line and a non-zero exit on %s", async (_case, env, exitCode, line) => {
    const police = spawnNode("services/police/dist/main.js", { ...env, LOG_LEVEL: "silent" });
    await expect(police.exited).resolves.toEqual({ code: exitCode, signal: null });
    expect(police.output()).toMatch(line);
    expect(police.output().trim().split("\n")).toHaveLength(1);
    expect(police.output()).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
  });

  it("starts all five agency services and the gateway reports each of them SERVING", async () => {
    const gatewayPort = await freePort();
    const processes: Spawned[] = [];
    try {
      for (const name of SERVICES) {
        processes.push(spawnNode(`services/${name}/dist/main.js`, { ...natsEnv(infra.natsUrl), MONGO_URL: infra.mongoUrl, GRPC_PORT: "0", MONGO_DB: `it_all_${name}` }));
      }
      const gateway = spawnNode("gateway/dist/main.js", { ...natsEnv(infra.natsUrl), GATEWAY_PORT: String(gatewayPort), AUTH_ISSUER: authIssuer });
      processes.push(gateway);
      await Promise.all(processes.map((p) => p.waitForOutput(/service started|gateway listening/)));

      expect((await fetch(`http://127.0.0.1:${gatewayPort}/api/v1/system/services`)).status).toBe(401);
      const res = await fetch(`http://127.0.0.1:${gatewayPort}/api/v1/system/services`, { headers: { authorization: `Bearer ${await tokenFor("admin.he")}` } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { services: { name: string; status: string; agency: string }[] };
      expect(body.services.map((s) => [s.name, s.status, s.agency])).toEqual([
        ["police", "SERVING_STATUS_SERVING", "AGENCY_POLICE"],
        ["prosecution", "SERVING_STATUS_SERVING", "AGENCY_PROSECUTION"],
        ["court", "SERVING_STATUS_SERVING", "AGENCY_COURT"],
        ["judicial", "SERVING_STATUS_SERVING", "AGENCY_JUDICIAL"],
        ["notary", "SERVING_STATUS_SERVING", "AGENCY_NOTARY"],
      ]);

      const missing = await fetch(`http://127.0.0.1:${gatewayPort}/api/v1/nothing`, { headers: { authorization: `Bearer ${await tokenFor("admin.he")}` } });
      expect(missing.status).toBe(404);
      expect(missing.headers.get("content-type")).toMatch(/application\/problem\+json/);
    } finally {
      await Promise.all(processes.map((p) => stopProcess(p.child)));
    }
  }, 60_000);
});
