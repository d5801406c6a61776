import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  bearerMetadata,
  DocumentStore,
  initPkiDirectory,
  loadTrustMaterial,
  natsClient,
  RevocationRegistry,
  runSealCli,
  SealVerifier,
  startService,
  type RunningService,
} from "@casebridge/kit";
import { common, seal as sealPb, transfer as pb } from "@casebridge/proto";
import { spec as policeSpec } from "@casebridge/police/spec";
import { startTimeStampService, type RunningTimeStampService } from "@casebridge/tsa/service";
import { asOperator, authIssuer, freePort, infra, natsEnv, startNats, tokenFor } from "./support";

const { VerificationStatus: Status, VerificationFailure: Failure } = sealPb;

// A PKI and a nats-server of this test's own: it revokes the police seal certificate, which must not
// reach the other tests' services (their CRL bucket and TSA queue group live on the shared NATS).
describe("trusted time: a seal time-stamped before its certificate was revoked stays valid", () => {
  let work: string;
  let pkiDir: string;
  let natsUrl: string;
  let natsServer: ChildProcess;
  let nc: NatsConnection;
  let tsa: RunningTimeStampService;
  let police: RunningService;
  let token: string;

  beforeAll(async () => {
    token = await tokenFor("officer.wang");
    work = mkdtempSync(path.join(tmpdir(), "cb-timestamp-"));
    pkiDir = path.join(work, "pki");
    await initPkiDirectory(pkiDir, "p-256");
    const port = await freePort();
    natsUrl = `nats://127.0.0.1:${port}`;
    natsServer = await startNats(port, path.join(work, "nats"));
    nc = await connect({ ...asOperator(), servers: natsUrl });
    expect(await runSealCli(["publish", "--dir", pkiDir, "--nats", natsUrl], {}, () => undefined, () => undefined)).toBe(0);
    tsa = await startTimeStampService({ ...natsEnv(natsUrl), PKI_DIR: pkiDir, LOG_LEVEL: "silent" });
    police = await startService(policeSpec, {
      ...natsEnv(natsUrl),
      MONGO_URL: infra.mongoUrl,
      MONGO_DB: `it_timestamp_police_${randomUUID().slice(0, 8)}`,
      LOG_LEVEL: "silent",
      PKI_DIR: pkiDir,
      GRPC_PORT: "0",
      AUTH_ISSUER: authIssuer,
    });
  }, 60_000);

  afterAll(async () => {
    await police?.stop();
    await tsa?.stop();
    await nc?.close();
    natsServer?.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it("judges revocation at the time-stamp: the seal made before is VALID, the one made after is INVALID", async () => {
    const cases = natsClient(nc, "police", pb.CaseFileServiceDefinition, 20_000);
    const as = { metadata: bearerMetadata(token), timeoutMs: 20_000 };
    const caseId = `ts-${randomUUID()}`;
    const document = (documentId: string) => ({ documentId, title: documentId, documentType: "evidence", mediaType: "text/plain", content: Buffer.from(`${documentId} of ${caseId}`) });
    await cases.openCase({ case: pb.Case.fromPartial({
          caseId,
          caseNumber: `320582-2026-${caseId.slice(-12)}`,
          kind: pb.CaseKind.CASE_KIND_CRIMINAL,
          offence: "盗窃",
          summary: "bicycle theft",
          parties: [{ partyId: "p1", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "李某" }],
        }), documents: [document("before")] }, as);

    // A CRL's revocation date has whole seconds (RFC 5280): a seal time-stamped in the same second as the
    // revocation counts as made after it. So the revocation comes in a later second than the first seal.
    const firstSeal = (await cases.getCase({ caseId }, as)).caseFile!.documents[0]!;
    const documents = await DocumentStore.open(nc, "police");
    const genTimeOfFirst = await (async () => {
      const trustNow = await loadTrustMaterial(pkiDir);
      const registry = new RevocationRegistry([...trustNow.roots, ...trustNow.intermediates]);
      for (const crl of trustNow.crls) registry.apply(crl);
      const report = new SealVerifier({ roots: trustNow.roots, intermediates: trustNow.intermediates, revocations: registry }).verify(await documents.get(firstSeal.contentKey), await documents.get(firstSeal.sealKey));
      expect(report.status).toBe(Status.VERIFICATION_STATUS_VALID);
      return report.timeStampTime!;
    })();
    const nextSecond = Math.floor(genTimeOfFirst.getTime() / 1000) * 1000 + 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextSecond - Date.now()) + 10));

    // The police seal certificate is revoked (key compromise reported now), and the CRL published.
    const lines: string[] = [];
    expect(await runSealCli(["revoke", "--agency", "police", "--dir", pkiDir, "--nats", natsUrl], {}, (l) => lines.push(l), (l) => lines.push(l))).toBe(0);
    const trust = await loadTrustMaterial(pkiDir);
    const revocations = new RevocationRegistry([...trust.roots, ...trust.intermediates]);
    for (const crl of trust.crls) revocations.apply(crl);
    const verifier = new SealVerifier({ roots: trust.roots, intermediates: trust.intermediates, revocations, timeStampAuthorities: trust.timeStampAuthorities });

    // The service does not refuse its own seal; a document sealed now carries a time-stamp after the revocation.
    const { caseFile } = await cases.addDocuments({ caseId, documents: [document("after")] }, as);
    const verify = async (documentId: string) => {
      const entry = caseFile!.documents.find((d) => d.ref?.documentId === documentId)!;
      const [content, seal] = await Promise.all([documents.get(entry.contentKey), documents.get(entry.sealKey)]);
      return verifier.verify(content, seal, { agency: common.Agency.AGENCY_POLICE });
    };
    const before = await verify("before");
    expect(before).toMatchObject({ status: Status.VERIFICATION_STATUS_VALID, timeStampAuthority: expect.stringContaining("Time-Stamp") as string });
    expect(before.timeStampTime!.getTime()).toBeLessThanOrEqual(Date.now());
    const after = await verify("after");
    expect(after).toMatchObject({ status: Status.VERIFICATION_STATUS_INVALID, failure: Failure.VERIFICATION_FAILURE_CERTIFICATE_REVOKED });
    expect(after.timeStampTime!.getTime()).toBeGreaterThan(before.timeStampTime!.getTime());

  }, 60_000);
});
