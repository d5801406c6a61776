import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { unzipSync, zipSync } from "fflate";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import {
  bearerMetadata,
  createPki,
  credentialOf,
  loadSealCredential,
  runSealCli,
  Sealer,
  startService,
  TRANSFER_STREAM,
  transferSubject,
  type RunningService,
  type SealAgency,
  type ServiceSpec,
} from "@casebridge/kit";
import { common, seal as sealPb, transfer as pb, trust as tpb } from "@casebridge/proto";
import { spec as courtSpec } from "@casebridge/court/spec";
import { spec as notarySpec } from "@casebridge/notary/spec";
import { spec as policeSpec } from "@casebridge/police/spec";
import { spec as prosecutionSpec } from "@casebridge/prosecution/spec";
import { publishRaw, wrap } from "./hostile";
import { asOperator, authIssuer, eventually, infra, natsEnv, resetRuntimeStreams, serviceClients, startTsa, tokenFor } from "./support";

const { Agency } = common;
const { TransferState: State } = pb;
const { IncidentReason: Reason } = tpb;
const run = randomUUID().slice(0, 8);

// Each test plays a hostile insider: anyone who can publish on NATS, publishing straight on JetStream.
describe("cross-agency trust: signed envelopes, bound bundles, legal routes", () => {
  let nc: NatsConnection;
  let tsa: Awaited<ReturnType<typeof startTsa>> | undefined;
  const services: Partial<Record<SealAgency, RunningService>> = {};
  const tokens = new Map<string, string>();
  const as = (user: string) => ({ metadata: bearerMetadata(tokens.get(user)!), timeoutMs: 15_000 });
  let sealers: Record<"police" | "prosecution" | "court" | "notary" | "foreign", Sealer>;
  let clients: ReturnType<typeof serviceClients>;



  const env = (agency: string) => ({ ...natsEnv(infra.natsUrl), MONGO_URL: infra.mongoUrl, LOG_LEVEL: "silent", MONGO_DB: `it_trust_${agency}_${run}`, PKI_DIR: infra.pkiDir, GRPC_PORT: "0", AUTH_ISSUER: authIssuer });

  beforeAll(async () => {
    for (const user of ["officer.wang", "legal.li", "prosecutor.zhao", "judge.sun", "admin.he"]) tokens.set(user, await tokenFor(user));
    await resetRuntimeStreams();
    nc = await connect({ ...asOperator(), servers: infra.natsUrl });
    clients = serviceClients(nc);
    tsa = await startTsa();
    const specs: Array<[SealAgency, ServiceSpec]> = [["police", policeSpec], ["prosecution", prosecutionSpec], ["court", courtSpec], ["notary", notarySpec]];
    await Promise.all(specs.map(async ([agency, spec]) => (services[agency] = await startService(spec, env(agency)))));
    const genuine = async (agency: SealAgency) => new Sealer(await loadSealCredential(infra.pkiDir, agency));
    sealers = {
      police: await genuine("police"),
      prosecution: await genuine("prosecution"),
      court: await genuine("court"),
      notary: await genuine("notary"),
      // A "prosecution" seal from a CA that is not the platform's.
      foreign: new Sealer(credentialOf(await createPki("p-256"), "prosecution")),
    };
  }, 90_000);

  afterAll(async () => {
    await Promise.all(Object.values(services).map((service) => service?.stop()));
    await tsa?.stop();
    await nc?.close();
  });

  function newCase(caseId: string): pb.Case {
    return pb.Case.fromPartial({
      caseId,
      caseNumber: `320582-2026-${caseId.slice(-12)}`,
      kind: pb.CaseKind.CASE_KIND_CRIMINAL,
      offence: "盗窃",
      summary: "bicycle theft",
      issuer: { agency: Agency.AGENCY_POLICE, unitId: "320582-PSB-LEGAL", name: "张家港市公安局法制大队" },
      parties: [{ partyId: "p1", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "李某", identifier: "320582********0011" }],
    });
  }

  /** A genuine transfer police → prosecution, received there; returns it as the police hold it. */
  async function receivedTransfer(): Promise<pb.Transfer> {
    const caseId = `case-${randomUUID()}`;
    await clients.policeCases.openCase({ case: newCase(caseId), documents: [{ documentId: "recommendation-1", title: "起诉意见书", documentType: "recommendation", mediaType: "text/plain", content: Buffer.from(`recommendation ${caseId}`) }] }, as("officer.wang"));
    await clients.policeCases.approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), as("legal.li"));
    const { transfer } = await clients.policeTransfers.submitTransfer({ caseId, recipient: Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as("legal.li"));
    return eventually(async () => {
      const { transfer: held } = await clients.policeTransfers.getTransfer({ transferId: transfer!.transferId }, as("legal.li"));
      if (held?.state !== State.TRANSFER_STATE_RECEIVED) throw new Error(`police see ${pb.transferStateToJSON(held?.state ?? 0)}`);
      return held;
    }, 20_000, 50);
  }

  async function policeTimeline(caseId: string): Promise<string[]> {
    return (await clients.policeTransfers.getCaseTimeline({ caseId }, as("legal.li"))).entries.map((e) => e.action);
  }

  /** Waits until `agency` lists an incident about `subjectId` with `reason`, and returns it. */
  async function incident(agency: SealAgency, subjectId: string, reason: tpb.IncidentReason, reported = false): Promise<tpb.SecurityIncident> {
    return eventually(async () => {
      const { incidents } = await clients.incidentsAt(agency).listIncidents({ pageSize: 200, pageToken: "" }, as("admin.he"));
      const found = incidents.find((i) => i.subjectId === subjectId && i.reason === reason && i.reportedByCounterpart === reported);
      if (!found) throw new Error(`no ${tpb.incidentReasonToJSON(reason)} incident about ${subjectId} at ${agency} yet (${incidents.length} listed)`);
      return found;
    }, 20_000, 100);
  }

  function event(transfer: pb.Transfer, from: common.Agency, to: common.Agency, body: Partial<pb.TransferEvent>): pb.TransferEvent {
    return { eventId: randomUUID(), transferId: transfer.transferId, from, to, at: new Date(), actor: "forger", ...body };
  }

  it("refuses forged status reports (unsigned, foreign CA, wrong agency, wrong recipient), records incidents and tells the named sender", async () => {
    const transfer = await receivedTransfer();
    const caseId = transfer.case!.caseId;
    const before = await eventually(async () => {
      const actions = await policeTimeline(caseId);
      if (!actions.includes("received")) throw new Error("no receipt on the timeline yet");
      return actions;
    });
    const accepted: pb.StatusChange = { state: State.TRANSFER_STATE_ACCEPTED, submission: 1, sequence: 99, returnReason: 0, returnNote: "", verification: undefined, bundleId: transfer.bundle!.bundleId };
    const status = event(transfer, Agency.AGENCY_PROSECUTION, Agency.AGENCY_POLICE, { status: accepted });
    await publishRaw(nc, Agency.AGENCY_POLICE, await wrap(status, { sealer: null }));
    await publishRaw(nc, Agency.AGENCY_POLICE, await wrap({ ...status, eventId: randomUUID() }, { sealer: sealers.foreign }));
    await publishRaw(nc, Agency.AGENCY_POLICE, await wrap({ ...status, eventId: randomUUID() }, { sealer: sealers.court }));
    const fromCourt = event(transfer, Agency.AGENCY_COURT, Agency.AGENCY_POLICE, { status: accepted });
    await publishRaw(nc, Agency.AGENCY_POLICE, await wrap(fromCourt, { sealer: sealers.court }));
    const misaddressed = { ...status, eventId: randomUUID(), to: Agency.AGENCY_COURT };
    await publishRaw(nc, Agency.AGENCY_POLICE, await wrap(misaddressed, { sealer: sealers.prosecution }));

    expect(await incident("police", transfer.transferId, Reason.INCIDENT_REASON_UNSIGNED)).toMatchObject({ claimedFrom: Agency.AGENCY_PROSECUTION, claimedKind: "status accepted", recordedBy: Agency.AGENCY_POLICE });
    expect((await incident("police", transfer.transferId, Reason.INCIDENT_REASON_BAD_SIGNATURE)).detail).toMatch(/trusted root/);
    expect((await incident("police", transfer.transferId, Reason.INCIDENT_REASON_WRONG_SIGNER)).signer).toMatch(/court/i);
    expect(await incident("police", transfer.transferId, Reason.INCIDENT_REASON_NOT_COUNTERPART)).toMatchObject({ claimedFrom: Agency.AGENCY_COURT });
    expect(await incident("police", transfer.transferId, Reason.INCIDENT_REASON_WRONG_RECIPIENT)).toMatchObject({ claimedFrom: Agency.AGENCY_PROSECUTION });
    // The agency named as sender is told, with a signed notice, that something was sent in its name.
    expect(await incident("prosecution", transfer.transferId, Reason.INCIDENT_REASON_UNSIGNED, true)).toMatchObject({ recordedBy: Agency.AGENCY_POLICE, reportedByCounterpart: true });
    await incident("court", transfer.transferId, Reason.INCIDENT_REASON_NOT_COUNTERPART, true);

    // Nothing changed: the police still see RECEIVED, and no entry was added.
    const { transfer: held } = await clients.policeTransfers.getTransfer({ transferId: transfer.transferId }, as("legal.li"));
    expect(held).toMatchObject({ state: State.TRANSFER_STATE_RECEIVED, statusSequence: transfer.statusSequence });
    expect(await policeTimeline(caseId)).toEqual(before);
    // Only platform operators see incidents.
    await expect(clients.incidentsAt("police").listIncidents({ pageSize: 10, pageToken: "" }, as("legal.li"))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_PERMISSION_DENIED });
  }, 90_000);

  it("refuses a forged withdrawal and a forged judgment; the records stay as they were", async () => {
    const transfer = await receivedTransfer();
    const withdrawal = event(transfer, Agency.AGENCY_POLICE, Agency.AGENCY_PROSECUTION, { withdrawnReason: "forged" });
    await publishRaw(nc, Agency.AGENCY_PROSECUTION, await wrap(withdrawal, { sealer: sealers.foreign, from: Agency.AGENCY_POLICE }));
    // A judgment "in the court's name" about the police's transfer, signed by prosecution's genuine key.
    const judgment = pb.TimelineEntry.fromPartial({ entryId: randomUUID(), caseId: transfer.case!.caseId, at: new Date(), agency: Agency.AGENCY_COURT, actor: "forger", action: "judgment", transferId: transfer.transferId, detail: "无罪释放" });
    const progress = event(transfer, Agency.AGENCY_COURT, Agency.AGENCY_POLICE, { progress: judgment });
    await publishRaw(nc, Agency.AGENCY_POLICE, await wrap(progress, { sealer: sealers.prosecution }));
    // And one genuinely signed by the court, which holds no case of this transfer (it went to prosecution, not yet accepted).
    await publishRaw(nc, Agency.AGENCY_POLICE, await wrap({ ...progress, eventId: randomUUID() }, { sealer: sealers.court }));

    await incident("prosecution", transfer.transferId, Reason.INCIDENT_REASON_BAD_SIGNATURE);
    await incident("police", transfer.transferId, Reason.INCIDENT_REASON_WRONG_SIGNER);
    await incident("police", transfer.transferId, Reason.INCIDENT_REASON_NOT_COUNTERPART);
    const { transfer: atProsecution } = await clients.prosecutionTransfers.getTransfer({ transferId: transfer.transferId }, as("prosecutor.zhao"));
    expect(atProsecution?.state).toBe(State.TRANSFER_STATE_RECEIVED);
    const timeline = await clients.policeTransfers.getCaseTimeline({ caseId: transfer.case!.caseId }, as("legal.li"));
    expect(timeline.entries.map((e) => e.detail)).not.toContain("无罪释放");
  }, 90_000);

  it("rejects a genuine bundle re-sent under a new transfer id or with edited case data, with the precise reason; refuses a resubmission out of turn", async () => {
    const transfer = await receivedTransfer();
    const replayedId = randomUUID();
    const replayed = { ...transfer, transferId: replayedId, state: State.TRANSFER_STATE_SUBMITTED, receiptKeys: [] };
    const edited = { ...transfer, submission: 2, case: { ...transfer.case!, offence: "寻衅滋事", parties: [{ ...transfer.case!.parties[0]!, name: "王某" }] } };
    // Signed with the police's genuine key: a compromised sender, past the envelope checks.
    await publishRaw(nc, Agency.AGENCY_PROSECUTION, await wrap(event(replayed, Agency.AGENCY_POLICE, Agency.AGENCY_PROSECUTION, { submitted: replayed }), { sealer: sealers.police }));
    // A resubmission of a transfer the prosecution holds as received (neither returned nor rejected) is out of turn.
    await publishRaw(nc, Agency.AGENCY_PROSECUTION, await wrap(event(edited, Agency.AGENCY_POLICE, Agency.AGENCY_PROSECUTION, { submitted: edited }), { sealer: sealers.police }));
    expect(await incident("prosecution", transfer.transferId, Reason.INCIDENT_REASON_OUT_OF_TURN)).toMatchObject({ claimedFrom: Agency.AGENCY_POLICE, claimedKind: "submission" });

    const held = async (transferId: string, state: pb.TransferState, submission: number) =>
      eventually(async () => {
        const { transfer: found } = await clients.prosecutionTransfers.getTransfer({ transferId }, as("prosecutor.zhao"));
        if (found?.state !== state || found.submission !== submission) throw new Error(`prosecution holds ${pb.transferStateToJSON(found?.state ?? 0)} (submission ${found?.submission})`);
        return found;
      }, 20_000, 100);
    const underNewId = await held(replayedId, State.TRANSFER_STATE_REJECTED, 1);
    expect(underNewId.verification?.manifestSeal).toMatchObject({ failure: sealPb.VerificationFailure.VERIFICATION_FAILURE_BINDING_MISMATCH, message: expect.stringContaining(`names transfer ${transfer.transferId}`) as string });
    await expect(clients.prosecutionTransfers.acceptTransfer({ transferId: replayedId }, as("prosecutor.zhao"))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION });
    expect((await held(transfer.transferId, State.TRANSFER_STATE_RECEIVED, 1)).case?.offence).toBe(transfer.case!.offence);

    // Once returned, the edited resubmission with the old bundle is taken in turn, and REJECTED with every reason;
    // the case data the prosecution verified before stays as it was.
    await clients.prosecutionTransfers.returnTransfer({ transferId: transfer.transferId, reason: pb.ReturnReason.RETURN_REASON_INCOMPLETE_BUNDLE, note: "missing statement" }, as("prosecutor.zhao"));
    await publishRaw(nc, Agency.AGENCY_PROSECUTION, await wrap(event(edited, Agency.AGENCY_POLICE, Agency.AGENCY_PROSECUTION, { submitted: edited }), { sealer: sealers.police }));
    const withEdits = await held(transfer.transferId, State.TRANSFER_STATE_REJECTED, 2);
    expect(withEdits.verification?.manifestSeal?.message).toMatch(/case data .* differs/);
    expect(withEdits.verification?.manifestSeal?.message).toMatch(/bundle .* was received before/);
    expect(withEdits.case).toMatchObject({ offence: transfer.case!.offence, parties: [expect.objectContaining({ name: "李某" })] });
  }, 90_000);

  it("refuses an indictment from police or notary to court at both ends", async () => {
    const transfer = await receivedTransfer();
    await expect(
      clients.policeTransfers.submitTransfer({ caseId: transfer.case!.caseId, recipient: Agency.AGENCY_COURT, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_INDICTMENT, transferId: "" }, as("legal.li")),
    ).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_PERMISSION_DENIED, message: expect.stringContaining("INDICTMENT may not go from police to court") as string });
    for (const [agency, sealer] of [[Agency.AGENCY_POLICE, sealers.police], [Agency.AGENCY_NOTARY, sealers.notary]] as const) {
      const indictment = { ...transfer, transferId: randomUUID(), sender: agency, recipient: Agency.AGENCY_COURT, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_INDICTMENT };
      await publishRaw(nc, Agency.AGENCY_COURT, await wrap(event(indictment, agency, Agency.AGENCY_COURT, { submitted: indictment }), { sealer }));
      expect(await incident("court", indictment.transferId, Reason.INCIDENT_REASON_ROUTE_NOT_ALLOWED)).toMatchObject({ claimedFrom: agency, claimedKind: "submission" });
      await expect(clients.courtTransfers.getTransfer({ transferId: indictment.transferId }, as("judge.sun"))).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_NOT_FOUND });
    }
  }, 90_000);

  it("applies a replayed status report once: no second timeline entry, no change; the sender keeps the signed receipt", async () => {
    const transfer = await receivedTransfer();
    expect(transfer.receiptKeys).toHaveLength(1);
    const timeline = await eventually(async () => {
      const entries = (await clients.policeTransfers.getCaseTimeline({ caseId: transfer.case!.caseId }, as("legal.li"))).entries;
      const received = entries.find((e) => e.action === "received");
      if (!received) throw new Error("no receipt yet");
      return entries;
    });
    const receipt = timeline.find((e) => e.action === "received")!;
    expect(receipt).toMatchObject({ agency: Agency.AGENCY_PROSECUTION, receiptKey: transfer.receiptKeys[0], receiptSigner: expect.stringMatching(/prosecution/i) as string });
    // Take the genuine signed status off the stream and publish it again, past the duplicate window.
    const jsm = await jetstreamManager(nc);
    const genuine = await jsm.streams.getMessage(TRANSFER_STREAM, { last_by_subj: transferSubject(Agency.AGENCY_POLICE, Agency.AGENCY_PROSECUTION) });
    const opened = tpb.EnvelopeContent.decode(tpb.SignedEnvelope.decode(genuine!.data).content);
    expect(pb.TransferEvent.decode(opened.payload).transferId).toBe(transfer.transferId);
    await publishRaw(nc, Agency.AGENCY_POLICE, genuine!.data, `replay-${randomUUID()}`);
    await publishRaw(nc, Agency.AGENCY_POLICE, genuine!.data, `replay-${randomUUID()}`);
    // The same status re-sent by the genuine prosecution key under a new envelope id: only its sequence number can tell.
    const resent = pb.TransferEvent.decode(opened.payload);
    await publishRaw(nc, Agency.AGENCY_POLICE, await wrap({ ...resent, eventId: randomUUID() }, { sealer: sealers.prosecution }));
    // Wait until the police consumer has taken and acknowledged everything, the replays included.
    const jsmInfo = await jetstreamManager(nc);
    await eventually(async () => {
      const info = await jsmInfo.consumers.info(TRANSFER_STREAM, "transfer-inbox-police");
      if (info.num_pending > 0 || info.num_ack_pending > 0) throw new Error(`police inbox: ${info.num_pending} pending, ${info.num_ack_pending} unacknowledged`);
    });
    const replayedTimeline = (await clients.policeTransfers.getCaseTimeline({ caseId: transfer.case!.caseId }, as("legal.li"))).entries;
    expect(replayedTimeline.filter((e) => e.action === "received")).toHaveLength(1);
    await clients.prosecutionTransfers.acceptTransfer({ transferId: transfer.transferId }, as("prosecutor.zhao"));
    const after = await eventually(async () => {
      const entries = (await clients.policeTransfers.getCaseTimeline({ caseId: transfer.case!.caseId }, as("legal.li"))).entries;
      if (!entries.some((e) => e.action === "accepted")) throw new Error("no acceptance yet");
      return entries;
    });
    expect(after.filter((e) => e.action === "received")).toHaveLength(1);
    const { transfer: held } = await clients.policeTransfers.getTransfer({ transferId: transfer.transferId }, as("legal.li"));
    expect(held).toMatchObject({ state: State.TRANSFER_STATE_ACCEPTED, receiptKeys: [transfer.receiptKeys[0], expect.any(String)] });
  }, 90_000);

  it("exports an offline evidence package that OpenSSL alone verifies, and that fails when any byte changes", async () => {
    const transfer = await receivedTransfer();
    await clients.prosecutionTransfers.acceptTransfer({ transferId: transfer.transferId }, as("prosecutor.zhao"));
    await eventually(async () => {
      const { transfer: held } = await clients.policeTransfers.getTransfer({ transferId: transfer.transferId }, as("legal.li"));
      if (held?.receiptKeys.length !== 2) throw new Error(`${held?.receiptKeys.length} receipts kept`);
    });
    const work = mkdtempSync(join(tmpdir(), "cb-evidence-"));
    const sh = (command: string, cwd = work) => spawnSync("bash", ["-c", command], { cwd, encoding: "utf8" });
    const { package: zip, fileName } = await clients.policeTransfers.exportEvidence({ transferId: transfer.transferId }, as("legal.li"));
    expect(fileName).toMatch(/^evidence-320582-2026-.*\.zip$/);
    writeFileSync(join(work, "api.zip"), zip);
    expect(sh("mkdir api && cd api && unzip -q ../api.zip").status).toBe(0);
    const commands = readFileSync(join(work, "api", "README.txt"), "utf8").split("\n").filter((line) => line.startsWith("  $ ")).map((line) => line.slice(4));
    expect(commands.some((c) => c.startsWith("openssl cms -verify"))).toBe(true);
    expect(commands.filter((c) => c.startsWith("openssl dgst -sha256 -verify receipts/"))).toHaveLength(2);
    for (const command of commands) {
      const run = sh(command, join(work, "api"));
      expect({ command, status: run.status, output: run.status === 0 ? "" : `${run.stdout}${run.stderr}` }).toEqual({ command, status: 0, output: "" });
    }
    // One byte of the document changed: openssl cms refuses it.
    const documentCheck = commands.find((c) => c.startsWith("openssl cms -verify") && c.includes("documents/"))!;
    const documentPath = /-content (documents\/\S+)/.exec(documentCheck)![1]!;
    const bytes = readFileSync(join(work, "api", documentPath));
    bytes[0] = bytes[0]! ^ 1;
    writeFileSync(join(work, "api", documentPath), bytes);
    expect(sh(documentCheck, join(work, "api")).status).not.toBe(0);

    // The CLI: export as the service holds it, verify the package, and refuse a changed one.
    const lines: string[] = [];
    const cli = (argv: string[]) => runSealCli(argv, {}, (line) => lines.push(line), (line) => lines.push(line));
    const exported = join(work, "cli.zip");
    expect(await cli(["export", "--agency", "police", "--transfer", transfer.transferId, "--out", exported, "--dir", infra.pkiDir, "--nats", infra.natsUrl])).toBe(0);
    expect(await cli(["verify-package", exported])).toBe(0);
    const files = unzipSync(readFileSync(exported));
    const document = Object.keys(files).find((name) => name.startsWith("documents/") && !name.endsWith(".p7s"))!;
    files[document]![0] = files[document]![0]! ^ 1;
    const tampered = zipSync(files);
    writeFileSync(join(work, "tampered.zip"), tampered);
    expect(await cli(["verify-package", join(work, "tampered.zip")])).toBe(1);
    expect(await cli(["export", "--agency", "police", "--transfer", "no-such-transfer", "--out", join(work, "x.zip"), "--dir", infra.pkiDir, "--nats", infra.natsUrl])).toBe(1);
    expect(lines.join("\n")).toContain("holds no transfer no-such-transfer");
  }, 90_000);

  it("counts a flood of unauthenticated garbage in one incident per claimed sender and hour, clips what it claims, and keeps the inbox flowing", async () => {
    const garbage = (subjectId: string) =>
      tpb.SignedEnvelope.encode({
        content: tpb.EnvelopeContent.encode({ envelopeId: randomUUID(), from: Agency.AGENCY_NOTARY, to: Agency.AGENCY_POLICE, payloadType: "casebridge.transfer.v1.TransferEvent", subjectId, signedAt: new Date(), payload: Buffer.alloc(0) }).finish(),
        signature: Buffer.alloc(0),
        certificate: Buffer.alloc(0),
      }).finish();
    for (let i = 0; i < 40; i++) await publishRaw(nc, Agency.AGENCY_POLICE, garbage(`flood-${randomUUID()}`));
    // One more with a subject of 600 kB: recorded clipped, not retried for ever.
    await publishRaw(nc, Agency.AGENCY_POLICE, garbage("x".repeat(600_000)));
    const jsm = await jetstreamManager(nc);
    await eventually(async () => {
      const info = await jsm.consumers.info(TRANSFER_STREAM, "transfer-inbox-police");
      if (info.num_pending > 0 || info.num_ack_pending > 0) throw new Error(`police inbox: ${info.num_pending} pending, ${info.num_ack_pending} unacknowledged`);
    }, 30_000);
    const counted = await eventually(async () => {
      const { incidents } = await clients.incidentsAt("police").listIncidents({ pageSize: 200, pageToken: "" }, as("admin.he"));
      const fromNotary = incidents.filter((i) => i.claimedFrom === Agency.AGENCY_NOTARY && i.reason === Reason.INCIDENT_REASON_UNSIGNED && !i.reportedByCounterpart);
      if (fromNotary.reduce((n, i) => n + i.occurrences, 0) < 41) throw new Error(`${fromNotary.length} records, ${fromNotary.map((i) => i.occurrences).join("+")} occurrences`);
      return fromNotary;
    });
    // At most one record per hour (two if the flood crossed an hour), each with its count; every field clipped.
    expect(counted.length).toBeLessThanOrEqual(2);
    expect(Math.max(...counted.map((i) => i.subjectId.length))).toBeLessThanOrEqual(201);
    // The notary was told once per record, not 41 times.
    const notices = await eventually(async () => {
      const { incidents } = await clients.incidentsAt("notary").listIncidents({ pageSize: 200, pageToken: "" }, as("admin.he"));
      const told = incidents.filter((i) => i.reportedByCounterpart && i.recordedBy === Agency.AGENCY_POLICE);
      if (told.length === 0) throw new Error("the notary was not told yet");
      return told;
    });
    expect(notices.length).toBe(counted.length);
    // Genuine traffic still flows: a new transfer is received and its receipt reaches the police.
    await receivedTransfer();
  }, 90_000);
});
