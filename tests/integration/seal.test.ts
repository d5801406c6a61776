import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  type CaseBridgeError,
  createPki,
  loadTrustMaterial,
  parseSeal,
  parseTimeStampToken,
  UnavailableError,
  issueCaCrl,
  loadSealCredential,
  openCrlBucket,
  publishCrl,
  readCrl,
  runSealCli,
  Sealer,
  startServiceSeals,
  type CrlWatch,
  type ServiceSeals,
} from "@casebridge/kit";
import { common, seal as sealPb } from "@casebridge/proto";
import { asOperator, eventually, infra, natsEnv, quietLogger, spawnNode } from "./support";

const { VerificationStatus: Status, VerificationFailure: Failure } = sealPb;

// Revocation reaches every service over NATS: the admin revokes with the CLI, which publishes the
// new CRL to the JetStream key-value bucket; running services apply it; services started later read it.
describe("seal revocation over NATS", () => {
  let work: string;
  let pkiDir: string;
  let staleCopy: string;
  let nc: NatsConnection;
  const watches: CrlWatch[] = [];
  const document = Buffer.from("逮捕证 / arrest warrant");

  async function serviceSeals(dir: string): Promise<ServiceSeals> {
    const started = await startServiceSeals(dir, "court", undefined, nc, quietLogger);
    watches.push(started.watch);
    return started.seals;
  }

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "cb-it-seal-"));
    pkiDir = path.join(work, "pki");
    staleCopy = path.join(work, "stale");
    expect(await runSealCli(["init", "--dir", pkiDir], {}, () => undefined, () => undefined)).toBe(0);
    cpSync(pkiDir, staleCopy, { recursive: true });
    nc = await connect({ ...asOperator(), servers: infra.natsUrl });
  });
  afterAll(async () => {
    watches.forEach((watch) => watch.stop());
    await nc.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("a running service refuses a seal within moments of the admin revoking it; a later one at once", async () => {
    const court = await serviceSeals(pkiDir);
    const p7s = await new Sealer(await loadSealCredential(pkiDir, "police")).seal(document);
    expect(court.verifier.verify(document, p7s).status).toBe(Status.VERIFICATION_STATUS_VALID);

    const out: string[] = [];
    const code = await runSealCli(["revoke", "--agency", "police", "--dir", pkiDir, "--nats", infra.natsUrl], {}, (line) => out.push(line), (line) => out.push(line));
    expect(code).toBe(0);
    expect(out.join("\n")).toContain(`published 1 CRL to ${infra.natsUrl}`);
    const revoked = await eventually(() => {
      const report = court.verifier.verify(document, p7s);
      return report.failure === Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED ? Promise.resolve(report) : Promise.reject(new Error(`still ${report.message}`));
    }, 5_000, 20);
    expect(revoked).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, seal: { agency: common.Agency.AGENCY_POLICE } });

    // Started from files that predate the revocation: the bucket brings it the new CRL.
    const later = await serviceSeals(staleCopy);
    expect(later.verifier.verify(document, p7s).failure).toBe(Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED);
  });

  it("ignores a CRL in the bucket that is forged or older than the one held", async () => {
    const court = await serviceSeals(pkiDir);
    const p7s = await new Sealer(await loadSealCredential(pkiDir, "police")).seal(document);
    const kv = await openCrlBucket(nc);
    const forger = await createPki("p-256");
    const forged = await issueCaCrl(forger.agencies.police.ca, 99n, []);
    await publishCrl(kv, forged);
    const stale = await readCrl(staleCopy, "police");
    await publishCrl(kv, stale);
    await nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(court.verifier.verify(document, p7s).failure).toBe(Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED);
    expect(court.revocations.numberOf((await loadSealCredential(pkiDir, "police")).chain[1]!)).toBe(2n);
  });
});

// Every seal a service makes is time-stamped by the platform TSA, a process of its own on NATS.
describe("time-stamped seals through the TSA process", () => {
  let work: string;
  let pkiDir: string;
  let nc: NatsConnection;
  let watch: CrlWatch | undefined;
  const document = Buffer.from("起诉书 / indictment");

  beforeAll(async () => {
    work = mkdtempSync(path.join(tmpdir(), "cb-it-tsa-"));
    pkiDir = path.join(work, "pki");
    expect(await runSealCli(["init", "--dir", pkiDir], {}, () => undefined, () => undefined)).toBe(0);
    nc = await connect({ ...asOperator(), servers: infra.natsUrl });
  });
  afterAll(async () => {
    watch?.stop();
    await nc.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("a service's seal carries the TSA's token and verifies; with the TSA down, sealing fails with UNAVAILABLE", async () => {
    const tsa = spawnNode("services/tsa/dist/main.js", { ...natsEnv(infra.natsUrl), PKI_DIR: pkiDir, LOG_LEVEL: "info" });
    await tsa.waitForOutput(/time-stamp authority ready/, 30_000);
    const started = await startServiceSeals(pkiDir, "prosecution", undefined, nc, quietLogger, { timeoutMs: 1_000 });
    watch = started.watch;
    const { sealer, verifier } = started.seals;
    let p7s: Buffer;
    try {
      p7s = await sealer.seal(document);
    } finally {
      tsa.child.kill("SIGTERM");
      await tsa.exited;
    }
    const token = parseTimeStampToken(parseSeal(p7s).timeStampToken!);
    const [tsaCertificate] = (await loadTrustMaterial(pkiDir)).timeStampAuthorities;
    expect(token.certificates).toEqual([tsaCertificate!.der]);
    const report = verifier.verify(document, p7s, { agency: common.Agency.AGENCY_PROSECUTION });
    expect(report).toMatchObject({ status: Status.VERIFICATION_STATUS_VALID, timeStampTime: token.genTime, timeStampAuthority: tsaCertificate!.subject, warnings: [] });

    const failure = await sealer.seal(document).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(UnavailableError);
    expect((failure as CaseBridgeError).code).toBe(common.ErrorCode.ERROR_CODE_UNAVAILABLE);
    expect((failure as Error).message).toContain("the time-stamp authority did not answer on cb.tsa.request");
  }, 60_000);
});
