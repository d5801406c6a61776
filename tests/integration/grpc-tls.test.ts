import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { ConfigError, grpcClient, grpcClientCredentials, initPkiDirectory, readGrpcTlsMaterial, startService, type RunningService } from "@casebridge/kit";
import { common, system } from "@casebridge/proto";
import { freePort, infra, natsEnv, startTsa } from "./support";

// A police service in this process with GRPC_TLS=on (real grpc-js, real TLS), called by the gateway's
// certificate, by nobody, by a certificate of a foreign PKI and by platform certificates that are not
// the gateway's.
describe("gRPC over mutual TLS between the gateway and a service", () => {
  const tlsDir = path.join(infra.pkiDir, "tls");
  let police: RunningService;
  let tsa: Awaited<ReturnType<typeof startTsa>>;
  let foreignDir: string;
  let healthPort: number;
  const address = () => `127.0.0.1:${police.grpcPort}`;

  /** GetInfo with the given channel credentials; the grpc status code of the failure, or "ok". */
  async function callWith(credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}): Promise<number | "ok"> {
    const client = new system.SystemServiceClient(address(), credentials, options);
    try {
      return await new Promise((resolve) =>
        client.getInfo({}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => resolve(err ? err.code : "ok")),
      );
    } finally {
      client.close();
    }
  }
  const pem = (...parts: string[]) => readFileSync(path.join(...parts));

  beforeAll(async () => {
    await initPkiDirectory(infra.pkiDir, "p-256"); // adds tls/ to a PKI made before it existed
    foreignDir = path.join(mkdtempSync(path.join(tmpdir(), "cb-foreign-")), "pki");
    await initPkiDirectory(foreignDir, "p-256");
    tsa = await startTsa();
    healthPort = await freePort();
    police = await startService(
      { name: "police", agency: common.Agency.AGENCY_POLICE, defaultGrpcPort: 0 },
      { ...natsEnv(infra.natsUrl), MONGO_URL: infra.mongoUrl, LOG_LEVEL: "silent", MONGO_DB: "it_grpc_tls", PKI_DIR: infra.pkiDir, GRPC_TLS: "on", GRPC_TLS_DIR: tlsDir, GRPC_HEALTH_PORT: String(healthPort) },
    );
  });
  afterAll(async () => {
    await police?.stop();
    await tsa?.stop();
    rmSync(path.dirname(foreignDir), { recursive: true, force: true });
  });

  it("serves the gateway's client certificate, and the gateway checks the service's name (SAN 127.0.0.1)", async () => {
    const gateway = grpcClientCredentials(await readGrpcTlsMaterial(tlsDir, "gateway"));
    const client = grpcClient(address(), system.SystemServiceDefinition, 5000, gateway);
    try {
      await expect(client.getInfo({})).resolves.toMatchObject({ agency: common.Agency.AGENCY_POLICE });
    } finally {
      client.close();
    }
  });

  it("refuses a plaintext client and a TLS client without a certificate", async () => {
    expect(await callWith(grpc.credentials.createInsecure())).toBe(grpc.status.UNAVAILABLE);
    expect(await callWith(grpc.credentials.createSsl(pem(tlsDir, "root.pem")))).toBe(grpc.status.UNAVAILABLE);
  });

  it("refuses a client certificate of a foreign CA (even one named gateway)", async () => {
    const foreign = await readGrpcTlsMaterial(path.join(foreignDir, "tls"), "gateway");
    // It trusts our root (so only the service's judgement of the client is tested).
    expect(await callWith(grpc.credentials.createSsl(pem(tlsDir, "root.pem"), foreign.key, foreign.certChain))).toBe(grpc.status.UNAVAILABLE);
  });

  it("refuses platform certificates that are not the gateway's: a service's (serverAuth only) at the handshake, a seal's per call", async () => {
    const root = pem(tlsDir, "root.pem");
    expect(await callWith(grpc.credentials.createSsl(root, pem(tlsDir, "prosecution.key.pem"), pem(tlsDir, "prosecution.pem")))).toBe(grpc.status.UNAVAILABLE);
    // A seal certificate chains to the same root and has no extendedKeyUsage: TLS lets it through, the service does not.
    const sealChain = Buffer.concat([pem(infra.pkiDir, "court", "seal.pem"), pem(infra.pkiDir, "court", "ca.pem")]);
    expect(await callWith(grpc.credentials.createSsl(root, pem(infra.pkiDir, "court", "seal.key.pem"), sealChain))).toBe(grpc.status.PERMISSION_DENIED);
  });

  it("answers grpc.health.v1 in plaintext on the health port only (Kubernetes probes)", async () => {
    const HealthClient = grpc.makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
    const health = new HealthClient(`127.0.0.1:${healthPort}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      check(req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
    };
    const status = await new Promise<{ status: string }>((resolve, reject) => health.check({ service: "" }, (err, res) => (err ? reject(err) : resolve(res))));
    expect(status.status).toBe("SERVING");
    health.close();
    const info = new system.SystemServiceClient(`127.0.0.1:${healthPort}`, grpc.credentials.createInsecure());
    const code = await new Promise((resolve) => info.getInfo({}, (err) => resolve(err?.code)));
    expect(code).toBe(grpc.status.UNIMPLEMENTED);
    info.close();
  });

  it("refuses to start in plaintext on a non-loopback address", async () => {
    const started = startService(
      { name: "police", agency: common.Agency.AGENCY_POLICE, defaultGrpcPort: 0 },
      { ...natsEnv(infra.natsUrl), MONGO_URL: infra.mongoUrl, LOG_LEVEL: "silent", PKI_DIR: infra.pkiDir, GRPC_HOST: "0.0.0.0" },
    );
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(/GRPC_HOST 0\.0\.0\.0 is not a loopback address/);
  });
});
