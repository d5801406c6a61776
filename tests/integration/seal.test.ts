import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  createPki,
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
import { eventually, infra, quietLogger } from "./support";

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
    nc = await connect({ servers: infra.natsUrl });
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
