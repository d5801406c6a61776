import { generateKeyPairSync, randomUUID, sign } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import mongoose from "mongoose";
import {
  AuditLog,
  bearerMetadata,
  caseSha256,
  CaseBridgeError,
  createPki,
  credentialOf,
  DocumentStore,
  keyOf,
  loadSealCredential,
  runAuditCli,
  Sealer,
  startService,
  type RunningService,
  type ServiceSpec,
  type TransferServiceSetup,
  yearInChina,
} from "@casebridge/kit";
import { common, seal as sealPb, transfer as pb } from "@casebridge/proto";
import { spec as courtSpec } from "@casebridge/court/spec";
import { spec as policeSpec } from "@casebridge/police/spec";
import { spec as prosecutionSpec } from "@casebridge/prosecution/spec";
import { publishRaw, wrap } from "./hostile";
import { asOperator, authIssuer, eventually, infra, natsEnv, resetRuntimeStreams, serviceClients, type Spawned, spawnNode, startTsa, tokenFor } from "./support";

const { Agency } = common;
const { TransferState: State, ReturnReason } = pb;
const run = randomUUID().slice(0, 8);
const db = (agency: string): string => `it_transfer_${agency}_${run}`;

// Demo users of the real Keycloak; their tokens are fetched once (they live 5 minutes).
const officer = "officer.wang";
const legal = "legal.li";
const prosecutor = "prosecutor.zhao";
const judge = "judge.sun";
type User = typeof officer | typeof legal | typeof prosecutor | typeof judge;
const tokens = new Map<string, string>();
const as = (user: User) => ({ metadata: bearerMetadata(tokens.get(user)!), timeoutMs: 15_000 });

function envFor(agency: string): Record<string, string> {
  return { ...natsEnv(infra.natsUrl), MONGO_URL: infra.mongoUrl, LOG_LEVEL: "silent", MONGO_DB: db(agency), PKI_DIR: infra.pkiDir, GRPC_PORT: "0", AUTH_ISSUER: authIssuer };
}

function start(spec: ServiceSpec, agency: string): Promise<RunningService> {
  return startService(spec, envFor(agency));
}

function document(id: string, title: string, text: string): pb.DocumentInput {
  return { documentId: id, title, documentType: id.replace(/-\d+$/, ""), mediaType: "text/plain", content: Buffer.from(text) };
}

function newCase(caseId: string): pb.Case {
  return pb.Case.fromPartial({
    caseId,
    caseNumber: `320582-2026-${caseId.slice(-12)}`,
    kind: pb.CaseKind.CASE_KIND_CRIMINAL,
    offence: "盗窃 (theft)",
    summary: "bicycle theft at the railway station",
    fastTrack: true,
    issuer: { agency: Agency.AGENCY_POLICE, unitId: "320582-PSB-LEGAL", name: "张家港市公安局法制大队" },
    parties: [{ partyId: "p1", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "李某", identifier: "320582********0011" }],
    measures: [{ measureId: "m1", type: pb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION, partyId: "p1", startsAt: new Date(), endsAt: new Date(Date.now() + 3 * 86_400_000) }],
  });
}

describe("case transfer police → prosecution → court", () => {
  let nc: NatsConnection;
  let police: RunningService;
  let prosecution: RunningService | undefined;
  let court: RunningService;
  let tsa: Awaited<ReturnType<typeof startTsa>> | undefined;
  let clients: ReturnType<typeof serviceClients>;



  async function openApprovedCase(caseId = `case-${randomUUID()}`): Promise<string> {
    await clients.policeCases.openCase(
      {
        case: newCase(caseId),
        documents: [
          document("transfer-notice-1", "移送起诉告知书", `transfer notice for ${caseId}`),
          document("recommendation-1", "起诉意见书", `recommendation for prosecution of ${caseId}`),
          document("evidence-list-1", "证据清单", `evidence list of ${caseId}: CCTV, statement`),
        ],
      },
      as(officer),
    );
    await clients.policeCases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), as(legal));
    return caseId;
  }

  async function stateAt(client: typeof clients.policeTransfers, actor: User, transferId: string, state: pb.TransferState, submission?: number, timeoutMs = 20_000): Promise<pb.Transfer> {
    return eventually(async () => {
      const { transfer } = await client.getTransfer({ transferId }, as(actor));
      if (transfer?.state !== state || (submission !== undefined && transfer.submission !== submission)) {
        throw new Error(`transfer ${transferId} is ${pb.transferStateToJSON(transfer?.state ?? 0)} (submission ${transfer?.submission}), waiting for ${pb.transferStateToJSON(state)}`);
      }
      return transfer;
    }, timeoutMs, 50);
  }

  beforeAll(async () => {
    for (const user of [officer, legal, prosecutor, judge]) tokens.set(user, await tokenFor(user));
    await resetRuntimeStreams();
    nc = await connect({ ...asOperator(), servers: infra.natsUrl });
    clients = serviceClients(nc);
    tsa = await startTsa();
    [police, prosecution, court] = await Promise.all([start(policeSpec, "police"), start(prosecutionSpec, "prosecution"), start(courtSpec, "court")]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([police?.stop(), prosecution?.stop(), court?.stop()]);
    await tsa?.stop();
    await nc?.close();
  });

  it("carries a case from police to prosecution to court and the outcome back, on one timeline", async () => {
    const caseId = `case-${randomUUID()}`;
    await clients.policeCases.openCase({ case: newCase(caseId), documents: [document("recommendation-1", "起诉意见书", "recommendation")] }, as(officer));
    await expect(clients.policeTransfers.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as(legal))).rejects.toThrow(
      /needs the legal unit's approval/,
    );
    await expect(clients.policeCases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), as(officer))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_PERMISSION_DENIED });
    await clients.policeCases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), as(legal));

    const { transfer } = await clients.policeTransfers.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as(legal));
    const transferId = transfer!.transferId;
    expect(transfer!.state).toBe(State.TRANSFER_STATE_SUBMITTED);
    const received = await stateAt(clients.prosecutionTransfers, prosecutor, transferId, State.TRANSFER_STATE_RECEIVED);
    expect(received.verification?.status).toBe(sealPb.VerificationStatus.VERIFICATION_STATUS_VALID);
    await stateAt(clients.policeTransfers, legal, transferId, State.TRANSFER_STATE_RECEIVED);
    // The inbox is a read model: projected from JetStream a moment after the change.
    const inbox = await eventually(async () => {
      const page = await clients.prosecutionTransfers.listTransfers(pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_INBOX, states: [State.TRANSFER_STATE_RECEIVED], caseId, pageSize: 10, pageToken: "" }), as(prosecutor));
      if (page.transfers.length === 0) throw new Error("not in the inbox view yet");
      return page;
    });
    expect(inbox.transfers.map((t) => t.transferId)).toEqual([transferId]);

    await clients.prosecutionTransfers.acceptTransfer({ transferId }, as(prosecutor));
    await stateAt(clients.policeTransfers, legal, transferId, State.TRANSFER_STATE_ACCEPTED);
    const { transfer: indictment } = await clients.prosecution.indict({ transferId, indictment: document("indictment-1", "起诉书", "indictment") }, as(prosecutor));
    expect(indictment!.bundle!.documents.map((d) => [d.ref?.documentId, d.sealedBy])).toEqual([
      ["recommendation-1", Agency.AGENCY_POLICE],
      ["indictment-1", Agency.AGENCY_PROSECUTION],
    ]);
    const atCourt = await stateAt(clients.courtTransfers, judge, indictment!.transferId, State.TRANSFER_STATE_RECEIVED);
    expect(atCourt.path).toEqual([Agency.AGENCY_POLICE]);
    await clients.courtTransfers.acceptTransfer({ transferId: indictment!.transferId }, as(judge));
    const { courtCaseNumber } = await clients.court.registerCase({ transferId: indictment!.transferId }, as(judge));
    // The national format, this court's code, this year (China time), and a sequence; registering again answers the same number (one `registered` step below).
    expect(courtCaseNumber).toMatch(new RegExp(`^（${yearInChina(new Date())}）苏0582刑初[1-9]\\d*号$`));
    expect((await clients.court.registerCase({ transferId: indictment!.transferId }, as(judge))).courtCaseNumber).toBe(courtCaseNumber);
    await clients.court.recordJudgment({ transferId: indictment!.transferId, judgment: document("judgment-1", "刑事判决书", "judgment"), outcome: "fixed-term imprisonment of 8 months" }, as(judge));

    const timeline = await eventually(async () => {
      const result = await clients.policeTransfers.getCaseTimeline({ caseId }, as(legal));
      if (!result.entries.some((e) => e.action === "judgment")) throw new Error(`no judgment yet: ${result.entries.map((e) => e.action).join(",")}`);
      return result;
    }, 20_000, 100);
    const steps = timeline.entries.map((e) => `${common.agencyToJSON(e.agency).replace("AGENCY_", "").toLowerCase()}:${e.action}`);
    expect(steps).toEqual([
      "police:opened",
      "police:approved",
      "police:submitted",
      "prosecution:received",
      "prosecution:accepted",
      "prosecution:indicted",
      "court:received",
      "court:accepted",
      "court:registered",
      "court:judgment",
    ]);
    const judgment = timeline.entries.at(-1)!;
    expect(judgment).toMatchObject({ actor: "judge.sun", detail: "fixed-term imprisonment of 8 months", verification: sealPb.VerificationStatus.VERIFICATION_STATUS_VALID });
    expect(timeline.entries.find((e) => e.action === "received" && e.agency === Agency.AGENCY_PROSECUTION)?.verification).toBe(sealPb.VerificationStatus.VERIFICATION_STATUS_VALID);
    expect(timeline.dwell.map((d) => d.agency).sort()).toEqual([Agency.AGENCY_POLICE, Agency.AGENCY_PROSECUTION, Agency.AGENCY_COURT].sort());
    const prosecutionTimeline = await eventually(async () => {
      const result = await clients.prosecutionTransfers.getCaseTimeline({ caseId }, as(prosecutor));
      if (!result.entries.some((e) => e.action === "judgment")) throw new Error("no judgment yet at prosecution");
      return result;
    });
    expect(prosecutionTimeline.entries.some((e) => e.action === "opened")).toBe(false); // it only sees what it sent or received
  }, 90_000);

  it("returns a case for supplementary investigation twice, takes the resubmissions, and refuses a third return", async () => {
    const caseId = await openApprovedCase();
    const { transfer } = await clients.policeTransfers.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as(legal));
    const transferId = transfer!.transferId;
    for (let round = 1; round <= 2; round++) {
      await stateAt(clients.prosecutionTransfers, prosecutor, transferId, State.TRANSFER_STATE_RECEIVED, round);
      await clients.prosecutionTransfers.returnTransfer({ transferId, reason: ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, note: `round ${round}: witness statement missing` }, as(prosecutor));
      const returned = await stateAt(clients.policeTransfers, legal, transferId, State.TRANSFER_STATE_RETURNED);
      expect(returned).toMatchObject({ supplementaryReturns: round, returnReason: ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, returnNote: `round ${round}: witness statement missing` });
      const added = await clients.policeCases.addDocuments({ caseId, documents: [document(`statement-${round}`, "询问笔录", `witness statement ${round}`)] }, as(officer));
      // A document added after the approval voids it: the legal unit approves exactly what leaves.
      expect(added.caseFile).toMatchObject({ approved: false, approvedDigest: "" });
      await expect(clients.policeTransfers.submitTransfer({ caseId: "", recipient: 0, purpose: 0, transferId }, as(legal))).rejects.toMatchObject({
        code: common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION,
        message: expect.stringContaining("approval of its current content") as string,
      });
      const approved = await clients.policeCases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), as(legal));
      expect(approved.caseFile?.approvedDigest).toMatch(/^[0-9a-f]{64}$/);
      // Not a second transfer beside the returned one: the answer names the transfer to resubmit.
      await expect(clients.policeTransfers.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as(legal))).rejects.toMatchObject({
        code: common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION,
        message: expect.stringContaining(`resubmit transfer ${transferId}`) as string,
      });
      const { transfer: again } = await clients.policeTransfers.submitTransfer({ caseId: "", recipient: 0, purpose: 0, transferId }, as(legal));
      expect(again).toMatchObject({ submission: round + 1, state: State.TRANSFER_STATE_SUBMITTED });
    }
    const third = await stateAt(clients.prosecutionTransfers, prosecutor, transferId, State.TRANSFER_STATE_RECEIVED, 3);
    expect(third.bundle!.documents.map((d) => d.ref?.documentId)).toContain("statement-2");
    await expect(
      clients.prosecutionTransfers.returnTransfer({ transferId, reason: ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, note: "round 3" }, as(prosecutor)),
    ).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION, message: expect.stringContaining("2 times") as string });
    await expect(clients.prosecutionTransfers.returnTransfer({ transferId, reason: ReturnReason.RETURN_REASON_OTHER, note: "" }, as(prosecutor))).rejects.toMatchObject({
      code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
    });
    await clients.prosecutionTransfers.acceptTransfer({ transferId }, as(prosecutor));
    await stateAt(clients.policeTransfers, legal, transferId, State.TRANSFER_STATE_ACCEPTED);
    const timeline = await clients.policeTransfers.getCaseTimeline({ caseId }, as(legal));
    expect(timeline.entries.filter((e) => e.action === "returned").map((e) => e.returnReason)).toEqual([
      ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION,
      ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION,
    ]);
  }, 90_000);

  it("lets the sender withdraw a transfer the receiver has not decided on", async () => {
    const caseId = await openApprovedCase();
    const { transfer } = await clients.policeTransfers.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as(legal));
    const transferId = transfer!.transferId;
    await stateAt(clients.policeTransfers, legal, transferId, State.TRANSFER_STATE_RECEIVED);
    await expect(clients.policeTransfers.withdrawTransfer({ transferId, reason: "" }, as(legal))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT });
    const { transfer: withdrawn } = await clients.policeTransfers.withdrawTransfer({ transferId, reason: "filed with the wrong office" }, as(legal));
    expect(withdrawn?.state).toBe(State.TRANSFER_STATE_WITHDRAWN);
    await stateAt(clients.prosecutionTransfers, prosecutor, transferId, State.TRANSFER_STATE_WITHDRAWN);
    await expect(clients.prosecutionTransfers.acceptTransfer({ transferId }, as(prosecutor))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION });
    await expect(clients.policeTransfers.withdrawTransfer({ transferId, reason: "again" }, as(legal))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION });
  }, 60_000);

  describe("a sender that is not to be trusted", () => {
    let documents: DocumentStore;

    beforeAll(async () => {
      documents = await DocumentStore.open(nc, "police"); // the sender's store
    });

    /** A submission event as a (faulty or hostile) police sender would publish it. */
    async function craftedSubmission(transferId: string, sealers: { document: Sealer; manifest: Sealer }, tamper?: (content: Buffer) => Buffer): Promise<pb.TransferEvent> {
      const original = Buffer.from(`recommendation for ${transferId}`);
      const sent = tamper ? tamper(original) : original;
      const docSeal = await sealers.document.seal(original);
      const ref = { documentId: "recommendation-1", title: "起诉意见书", documentType: "recommendation", mediaType: "text/plain", sizeBytes: original.length, sha256: keyOf(original) };
      const kase = newCase(`case-${transferId}`);
      const manifest: sealPb.BundleManifest = {
        bundleId: `${transferId}:b`,
        caseId: kase.caseId,
        sender: Agency.AGENCY_POLICE,
        recipient: Agency.AGENCY_PROSECUTION,
        createdAt: new Date(),
        documents: [ref],
        transferId,
        purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW",
        caseNumber: kase.caseNumber,
        caseSha256: caseSha256(kase),
        submission: 1,
      };
      const manifestBytes = Buffer.from(sealPb.BundleManifest.encode(manifest).finish());
      const [contentKey, sealKey, manifestKey, manifestSealKey] = await Promise.all([
        documents.put(sent),
        documents.put(docSeal),
        documents.put(manifestBytes),
        sealers.manifest.seal(manifestBytes).then((seal) => documents.put(seal)),
      ]);
      const transfer = pb.Transfer.fromPartial({
        transferId,
        case: kase,
        sender: Agency.AGENCY_POLICE,
        recipient: Agency.AGENCY_PROSECUTION,
        senderUnit: { agency: Agency.AGENCY_POLICE, unitId: "320582-PSB-YANGSHE", name: "张家港市公安局杨舍派出所" },
        recipientUnit: { agency: Agency.AGENCY_PROSECUTION, unitId: "320582-PRO", name: "张家港市人民检察院" },
        purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW,
        state: State.TRANSFER_STATE_SUBMITTED,
        submission: 1,
        bundle: { bundleId: manifest.bundleId, manifestKey, manifestSealKey, documents: [{ ref, contentKey, sealKey, sealedBy: Agency.AGENCY_POLICE }] },
      });
      return { eventId: randomUUID(), transferId, from: Agency.AGENCY_POLICE, to: Agency.AGENCY_PROSECUTION, at: new Date(), actor: "legal.li", submitted: transfer };
    }

    /** Publishes the event signed with the genuine police key: a faulty sender, not a forger (trust.test.ts has those). */
    async function publish(event: pb.TransferEvent, msgId = event.eventId): Promise<void> {
      const police = new Sealer(await loadSealCredential(infra.pkiDir, "police"));
      await publishRaw(nc, Agency.AGENCY_PROSECUTION, await wrap(event, { sealer: police }), msgId);
    }

    it("rejects a tampered document and a forged seal at prosecution, with the report on the timeline", async () => {
      const police = new Sealer(await loadSealCredential(infra.pkiDir, "police"));
      const forger = new Sealer(credentialOf(await createPki("p-256"), "police"));
      const tampered = `t-${randomUUID()}`;
      const forged = `f-${randomUUID()}`;
      await publish(await craftedSubmission(tampered, { document: police, manifest: police }, (content) => Buffer.concat([content, Buffer.from(" and more")])));
      await publish(await craftedSubmission(forged, { document: forger, manifest: police }));

      const rejectedTampered = await stateAt(clients.prosecutionTransfers, prosecutor, tampered, State.TRANSFER_STATE_REJECTED);
      expect(rejectedTampered.verification?.documents[0]).toMatchObject({ documentId: "recommendation-1", failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_MANIFEST_MISMATCH });
      const rejectedForged = await stateAt(clients.prosecutionTransfers, prosecutor, forged, State.TRANSFER_STATE_REJECTED);
      expect(rejectedForged.verification?.documents[0]?.seal?.failure).toBe(sealPb.VerificationFailure.VERIFICATION_FAILURE_UNTRUSTED_CHAIN);
      await expect(clients.prosecutionTransfers.acceptTransfer({ transferId: forged }, as(prosecutor))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION });

      const timeline = await eventually(async () => {
        const result = await clients.prosecutionTransfers.getCaseTimeline({ caseId: `case-${forged}` }, as(prosecutor));
        if (result.entries.length === 0) throw new Error("no timeline yet");
        return result;
      });
      expect(timeline.entries[0]).toMatchObject({ action: "rejected", verification: sealPb.VerificationStatus.VERIFICATION_STATUS_INVALID, detail: expect.stringContaining("recommendation-1") as string });
    }, 60_000);

    it("applies the same event once, even when delivered twice", async () => {
      const police = new Sealer(await loadSealCredential(infra.pkiDir, "police"));
      const transferId = `d-${randomUUID()}`;
      const event = await craftedSubmission(transferId, { document: police, manifest: police });
      await publish(event);
      await publish(event, `${event.eventId}-again`); // past JetStream's duplicate window: only idempotence saves us
      await publish(event); // within it: dropped by the server
      await stateAt(clients.prosecutionTransfers, prosecutor, transferId, State.TRANSFER_STATE_RECEIVED);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const timeline = await clients.prosecutionTransfers.getCaseTimeline({ caseId: `case-${transferId}` }, as(prosecutor));
      expect(timeline.entries.map((e) => e.action)).toEqual(["received"]);
    }, 60_000);

    it("refuses (REJECTED, with the report) a submission addressed to no unit of the receiver, which nobody there would see", async () => {
      const police = new Sealer(await loadSealCredential(infra.pkiDir, "police"));
      const transferId = `u-${randomUUID()}`;
      const event = await craftedSubmission(transferId, { document: police, manifest: police });
      event.submitted!.recipientUnit = { agency: Agency.AGENCY_PROSECUTION, unitId: "320582-PSB-LEGAL", name: "" };
      await publish(event);
      const engine = (prosecution!.setup as TransferServiceSetup).engine;
      const stored = await eventually(async () => {
        const got = await engine.transfers.get(transferId);
        if (!got) throw new Error(`${transferId} not stored yet`);
        return got.value;
      });
      expect(stored.state).toBe(State.TRANSFER_STATE_REJECTED);
      expect(stored.verification?.manifestSeal?.message).toContain("addressed to 320582-PSB-LEGAL, which is no unit of this agency");
      await expect(clients.prosecutionTransfers.getTransfer({ transferId }, as(prosecutor))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_NOT_FOUND });
    }, 60_000);
  });

  it("loses nothing and applies nothing twice when prosecution is killed while transfers are in flight", async () => {
    await prosecution!.stop();
    prosecution = undefined;
    const count = 12;
    const caseIds = await Promise.all(Array.from({ length: count }, () => openApprovedCase()));
    let process: Spawned = spawnNode("services/prosecution/dist/main.js", { ...envFor("prosecution"), LOG_LEVEL: "info" });
    await process.waitForOutput(/service started/);
    const transferIds: string[] = [];
    for (const caseId of caseIds) {
      const { transfer } = await clients.policeTransfers.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as(legal));
      transferIds.push(transfer!.transferId);
      if (transferIds.length === 4) process.child.kill("SIGKILL");
    }
    await process.exited;
    process = spawnNode("services/prosecution/dist/main.js", { ...envFor("prosecution"), LOG_LEVEL: "info" });
    try {
      await process.waitForOutput(/service started/);
      // Events the killed instance had taken but not acked come back after the consumer's ack wait (10 s).
      for (const transferId of transferIds) await stateAt(clients.policeTransfers, legal, transferId, State.TRANSFER_STATE_RECEIVED, undefined, 40_000);
      const received = new Set<string>();
      for (const caseId of caseIds) {
        // Lists are read models, projected a moment after the change (by whichever instance holds the projector's pin).
        const transfers = await eventually(async () => {
          const page = await clients.prosecutionTransfers.listTransfers(pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_INBOX, states: [], caseId, pageSize: 10, pageToken: "" }), as(prosecutor));
          if (page.transfers.length === 0) throw new Error(`case ${caseId} is not in the inbox view yet`);
          return page.transfers;
        }, 20_000);
        expect(transfers).toHaveLength(1);
        received.add(transfers[0]!.transferId);
        // The timeline is a read model too, with a projector of its own (its pin may be moving to the new instance).
        const timeline = await eventually(async () => {
          const found = await clients.prosecutionTransfers.getCaseTimeline({ caseId }, as(prosecutor));
          if (!found.entries.some((e) => e.action === "received")) throw new Error(`case ${caseId} has no received entry in the timeline view yet`);
          return found;
        }, 20_000);
        expect(timeline.entries.filter((e) => e.action === "received")).toHaveLength(1);
      }
      expect([...received].sort()).toEqual([...transferIds].sort());
    } finally {
      process.child.kill("SIGTERM");
      await process.exited;
    }
  }, 120_000);

  it("keeps a hash-chained audit log that verifies, and detects an edited entry", async () => {
    const connection = await mongoose.createConnection(infra.mongoUrl, { dbName: db("police") }).asPromise();
    try {
      const audit = new AuditLog(connection);
      const cli = async (): Promise<{ code: number; out: string }> => {
        const lines: string[] = [];
        const code = await runAuditCli(["verify", "police", "--mongo", infra.mongoUrl, "--db", db("police"), "--nats", infra.natsUrl], {}, (line) => lines.push(line), (line) => lines.push(line));
        return { code, out: lines.join("\n") };
      };
      // The log is projected from the police audit stream; once caught up it holds every record the stream holds.
      const caughtUp = await eventually(async () => {
        const result = await cli();
        if (result.code !== 0) throw new Error(result.out);
        return result;
      });
      const intact = await audit.verify();
      expect(intact).toMatchObject({ intact: true });
      expect(intact.entries).toBeGreaterThan(20);
      expect(caughtUp).toEqual({ code: 0, out: `audit log of ${db("police")}: ${intact.entries} entries, chain intact, as many as the audit stream holds` });
      // Truncation (the newest entry deleted) is seen against the stream.
      const newest = await connection.collection("audit").findOne({ _id: intact.entries as unknown as never });
      await connection.collection("audit").deleteOne({ _id: intact.entries as unknown as never });
      expect(await cli()).toMatchObject({ code: 1, out: expect.stringContaining("(truncated)") as string });
      await connection.collection("audit").insertOne(newest!);
      expect((await cli()).code).toBe(0);
      const original = await connection.collection("audit").findOne({ _id: 3 as unknown as never });
      await connection.collection("audit").updateOne({ _id: 3 as unknown as never }, { $set: { actor: "someone.else" } });
      expect(await audit.verify()).toMatchObject({ intact: false, brokenAt: 3, reason: expect.stringContaining("edited") as string });
      expect(await cli()).toMatchObject({ code: 1, out: expect.stringContaining("BROKEN at entry 3") as string });
      await connection.collection("audit").deleteOne({ _id: 5 as unknown as never });
      await connection.collection("audit").updateOne({ _id: 3 as unknown as never }, { $set: { actor: original!.actor as string } });
      const restored = await audit.verify();
      expect(restored).toMatchObject({ intact: false, brokenAt: 6, reason: "entry 5 is missing" });
    } finally {
      await connection.close();
    }
  });

  it("answers bad requests with clear errors and checks the caller's role and agency", async () => {
    await expect(clients.policeCases.openCase({ case: pb.Case.fromPartial({ caseId: "x" }), documents: [] }, as(officer))).rejects.toMatchObject({
      code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      violations: expect.arrayContaining([expect.objectContaining({ field: "case.case_number" }), expect.objectContaining({ field: "case.parties" })]) as unknown,
    });
    await expect(clients.policeTransfers.listTransfers(pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_INBOX, states: [], caseId: "", pageSize: 0, pageToken: "" }), as(prosecutor))).rejects.toMatchObject({
      code: common.ErrorCode.ERROR_CODE_PERMISSION_DENIED,
    });
    await expect(clients.policeTransfers.listTransfers(pb.ListTransfersRequest.fromPartial({ box: pb.Box.BOX_INBOX, states: [], caseId: "", pageSize: 0, pageToken: "" }), { timeoutMs: 5000 })).rejects.toMatchObject({
      code: common.ErrorCode.ERROR_CODE_UNAUTHENTICATED,
    });
    // A token with the legal officer's claims, signed by someone else's key: refused by the service itself.
    const [header, payload] = tokens.get(legal)!.split(".");
    const forger = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
    const forged = `${header}.${payload}.${sign("sha256", Buffer.from(`${header}.${payload}`), forger).toString("base64url")}`;
    await expect(clients.policeCases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId: "any" }), { metadata: bearerMetadata(forged), timeoutMs: 5000 })).rejects.toMatchObject({
      code: common.ErrorCode.ERROR_CODE_UNAUTHENTICATED,
      message: expect.stringContaining("signature") as string,
    });
    await expect(clients.policeTransfers.getTransfer({ transferId: randomUUID() }, as(legal))).rejects.toBeInstanceOf(CaseBridgeError);
  });
});

