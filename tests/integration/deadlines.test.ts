import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { aggregateBucket, aggregateKey, bearerMetadata, type CaseBridgeError, decodeRecord, natsClient, startService, type RunningService } from "@casebridge/kit";
import { common, deadline as dpb, transfer as pb } from "@casebridge/proto";
import { spec as policeSpec } from "@casebridge/police/spec";
import { spec as prosecutionSpec } from "@casebridge/prosecution/spec";
import { asOperator, authIssuer, eventually, freePort, infra, natsEnv, startNats, startTsa, tokenFor } from "./support";

const { AlertLevel: Level } = dpb;
const run = randomUUID().slice(0, 8);
// Short test rules: criminal detention, fast-track review and supplementary investigation end after 8 s, with a warning 4 s before.
const SHORT = { limit: "8s", warnBefore: ["4s"] };
// Bail warns at 4 s too, but leaves 10 s between the warning and the limit (time to acknowledge on a loaded machine).
const RULES = JSON.stringify({
  DEADLINE_KIND_CRIMINAL_DETENTION: SHORT,
  DEADLINE_KIND_PROSECUTION_REVIEW_FAST_TRACK: SHORT,
  DEADLINE_KIND_SUPPLEMENTARY_INVESTIGATION: SHORT,
  DEADLINE_KIND_BAIL: { limit: "14s", warnBefore: ["10s"] },
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Statutory deadlines as server-side schedules (ADR-51) on a nats-server of this test's own, so that it can be restarted. */
describe("statutory deadlines: durable timers, alerts, acknowledgement, escalation", () => {
  let natsPort: number;
  let natsUrl: string;
  let storeDir: string;
  let natsServer: ChildProcess;
  let nc: NatsConnection;
  let police: RunningService | undefined;
  let prosecution: RunningService | undefined;
  let tsa: Awaited<ReturnType<typeof startTsa>> | undefined;
  const tokens = new Map<string, string>();
  const as = (user: string) => ({ metadata: bearerMetadata(tokens.get(user)!), timeoutMs: 20_000 });
  const cases = () => natsClient(nc, "police", pb.CaseFileServiceDefinition, 20_000);
  const alerts = (agency = "police") => natsClient(nc, agency, dpb.AlertServiceDefinition, 20_000);

  const envOf = (agency: string) => ({
    ...natsEnv(natsUrl),
    MONGO_URL: infra.mongoUrl,
    MONGO_DB: `it_deadlines_${agency}_${run}`,
    LOG_LEVEL: "silent",
    PKI_DIR: infra.pkiDir,
    GRPC_PORT: "0",
    AUTH_ISSUER: authIssuer,
    DEADLINE_RULES: RULES,
  });
  const startPolice = async () => {
    police = await startService(policeSpec, envOf("police"));
  };

  /** Opens a case whose suspect is detained (or under another measure) from now; returns its id once the relay has set its timers. */
  async function openDetentionCase(type = pb.MeasureType.MEASURE_TYPE_CRIMINAL_DETENTION): Promise<string> {
    const caseId = `dl-${randomUUID()}`;
    await cases().openCase(
      {
        case: pb.Case.fromPartial({
          caseId,
          caseNumber: `320582-2026-${caseId.slice(-12)}`,
          kind: pb.CaseKind.CASE_KIND_CRIMINAL,
          offence: "盗窃",
          parties: [{ partyId: "p1", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "李某" }],
          measures: [{ measureId: "m1", type, partyId: "p1", startsAt: new Date() }],
        }),
        documents: [{ documentId: "detention-1", title: "拘留证", documentType: "detention", mediaType: "application/pdf", content: Buffer.from(caseId) }],
      },
      as("officer.wang"),
    );
    await timersSet(caseId);
    return caseId;
  }

  /** Waits until the case's outbox is carried out: its schedules are in the timer stream. */
  async function timersSet(caseId: string): Promise<void> {
    const kv = await new Kvm(nc).open(aggregateBucket("police"));
    await eventually(async () => {
      const entry = await kv.get(aggregateKey("case", caseId));
      if (!entry || decodeRecord(entry.value).outbox.length > 0) throw new Error("the relay has not set the timers yet");
    });
  }

  async function alertsOf(user: string, caseId: string, agency = "police"): Promise<dpb.Alert[]> {
    const { alerts: list } = await alerts(agency).listAlerts({ unacknowledgedOnly: false, pageSize: 200, pageToken: "" }, as(user));
    return list.filter((a) => a.timer?.caseId === caseId).sort((a, b) => a.timer!.fireAt!.getTime() - b.timer!.fireAt!.getTime());
  }

  async function waitForAlerts(caseId: string, count: number, user = "leader.qian", agency = "police"): Promise<dpb.Alert[]> {
    return eventually(async () => {
      const found = await alertsOf(user, caseId, agency);
      if (found.length < count) throw new Error(`${found.length} of ${count} alerts so far`);
      return found;
    }, 40_000, 250);
  }

  /** A fired alert is never early, and late by less than the scheduler's delay on a loaded machine. */
  function expectOnTime(alert: dpb.Alert): void {
    const delay = alert.firedAt!.getTime() - alert.timer!.fireAt!.getTime();
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(15_000);
  }

  beforeAll(async () => {
    for (const user of ["officer.wang", "legal.li", "leader.qian", "prosecutor.zhao"]) tokens.set(user, await tokenFor(user));
    natsPort = await freePort();
    natsUrl = `nats://127.0.0.1:${natsPort}`;
    storeDir = mkdtempSync(path.join(tmpdir(), "cb-deadlines-nats-"));
    natsServer = await startNats(natsPort, storeDir);
    nc = await connect({ ...asOperator(), servers: natsUrl, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    tsa = await startTsa(natsUrl);
    await startPolice();
    prosecution = await startService(prosecutionSpec, envOf("prosecution"));
  }, 60_000);

  afterAll(async () => {
    await prosecution?.stop();
    await police?.stop();
    await tsa?.stop();
    await nc?.close();
    natsServer?.kill("SIGTERM");
    rmSync(storeDir, { recursive: true, force: true });
  }, 60_000);

  it("fires the warning, then the limit, once each and never early; the limit escalates the unacknowledged warning to the legal unit", async () => {
    const caseId = await openDetentionCase();
    const [warning, expired] = await waitForAlerts(caseId, 2);
    expect(warning).toMatchObject({ escalated: false, recipients: ["officer.wang"], roles: ["unit-leader"], timer: { level: Level.ALERT_LEVEL_WARNING, partyName: "李某", measureId: "m1" } });
    expect(expired).toMatchObject({ escalated: true, roles: ["unit-leader", "police-legal"], timer: { level: Level.ALERT_LEVEL_EXPIRED } });
    expectOnTime(warning!);
    expectOnTime(expired!);
    expect(warning!.timer!.dueAt).toEqual(expired!.timer!.dueAt);
    // The officer in charge gets both; the legal unit only the escalated one.
    expect((await alertsOf("officer.wang", caseId)).length).toBe(2);
    expect((await alertsOf("legal.li", caseId)).map((a) => a.timer!.level)).toEqual([Level.ALERT_LEVEL_EXPIRED]);
    // Nothing fires twice.
    await sleep(3000);
    expect(await alertsOf("leader.qian", caseId)).toHaveLength(2);
  }, 60_000);

  it("counts unread per user: each recipient acknowledges for themselves; a limit whose warning was acknowledged is not escalated", async () => {
    const caseId = await openDetentionCase(pb.MeasureType.MEASURE_TYPE_BAIL);
    const [warning] = await waitForAlerts(caseId, 1);
    const unread = async (user: string) => (await alerts().listAlerts({ unacknowledgedOnly: true, pageSize: 200, pageToken: "" }, as(user))).unacknowledged;
    const [leaderBefore, officerBefore] = [await unread("leader.qian"), await unread("officer.wang")];
    const { alert } = await alerts().acknowledgeAlert({ alertId: warning!.alertId }, as("leader.qian"));
    expect(alert!.acknowledgements.map((a) => a.user)).toEqual(["leader.qian"]);
    // Acknowledging again changes nothing.
    expect((await alerts().acknowledgeAlert({ alertId: warning!.alertId }, as("leader.qian"))).alert!.acknowledgements).toHaveLength(1);
    await eventually(async () => {
      if ((await unread("leader.qian")) !== leaderBefore - 1) throw new Error("the leader's unread count has not dropped yet");
    });
    // The officer in charge has not seen it: it is still unread for him.
    expect(await unread("officer.wang")).toBe(officerBefore);
    const { alerts: officerUnread } = await alerts().listAlerts({ unacknowledgedOnly: true, pageSize: 200, pageToken: "" }, as("officer.wang"));
    expect(officerUnread.map((a) => a.alertId)).toContain(warning!.alertId);
    await alerts().acknowledgeAlert({ alertId: warning!.alertId }, as("officer.wang"));
    const both = await eventually(async () => {
      const [seen] = await alertsOf("officer.wang", caseId);
      if (seen!.acknowledgements.length < 2) throw new Error("not projected yet");
      return seen!;
    });
    expect(both.acknowledgements.map((a) => a.user)).toEqual(["leader.qian", "officer.wang"]);
    expect(both.acknowledgements.every((a) => a.at instanceof Date)).toBe(true);
    const [, expired] = await waitForAlerts(caseId, 2);
    expect(expired).toMatchObject({ escalated: false, roles: ["unit-leader"] });
    expect((await alertsOf("legal.li", caseId)).length).toBe(0);
  }, 60_000);

  it("moves the alerts of an extended measure and cancels those of a lifted one", async () => {
    const [extended, released] = await Promise.all([openDetentionCase(), openDetentionCase()]);
    const newEnd = new Date(Date.now() + 14_000);
    const changedAt = Date.now();
    await cases().changeMeasure({ caseId: extended, measureId: "m1", endsAt: newEnd, release: false, reason: "经批准延长拘留期限" }, as("legal.li"));
    await cases().changeMeasure({ caseId: released, measureId: "m1", endsAt: undefined, release: true, reason: "取保候审，释放" }, as("officer.wang"));
    // Past the old limit (8 s), before the new warning (14 s - 4 s). Only points due before the change
    // (an old warning, on a slow machine) may have alerted; the old limit never does.
    await sleep(8_500);
    const beforeChange = (alerts: dpb.Alert[]) => alerts.every((a) => a.timer!.fireAt!.getTime() <= changedAt);
    expect(beforeChange(await alertsOf("leader.qian", extended))).toBe(true);
    expect(beforeChange(await alertsOf("leader.qian", released))).toBe(true);
    const moved = await eventually(async () => {
      const found = (await alertsOf("leader.qian", extended)).filter((a) => a.timer!.dueAt!.getTime() === newEnd.getTime());
      if (found.length < 2) throw new Error(`${found.length} of 2 alerts at the new times so far`);
      return found;
    }, 40_000, 250);
    const [warning, expired] = moved;
    expect(warning!.timer!.level).toBe(Level.ALERT_LEVEL_WARNING);
    expect(expired!.timer!.fireAt).toEqual(newEnd);
    expectOnTime(warning!);
    expect(beforeChange(await alertsOf("leader.qian", released))).toBe(true);
    const { caseFile } = await cases().getCase({ caseId: released }, as("officer.wang"));
    expect(caseFile!.case!.measures[0]!.releasedAt).toBeInstanceOf(Date);
  }, 60_000);

  it("runs the prosecution review from receipt at the prosecution; a return ends it and starts supplementary investigation at the police", async () => {
    const caseId = `dl-${randomUUID()}`;
    await cases().openCase(
      {
        case: pb.Case.fromPartial({ caseId, caseNumber: `320582-2026-${caseId.slice(-12)}`, kind: pb.CaseKind.CASE_KIND_CRIMINAL, offence: "盗窃", fastTrack: true, parties: [{ partyId: "p1", role: common.PartyRole.PARTY_ROLE_SUSPECT, name: "钱某" }] }),
        documents: [{ documentId: "recommendation-1", title: "起诉意见书", documentType: "recommendation", mediaType: "application/pdf", content: Buffer.from(caseId) }],
      },
      as("officer.wang"),
    );
    await cases().approveCase(pb.ApproveCaseRequest.fromPartial({ caseId }), as("legal.li"));
    const transfers = (agency: string) => natsClient(nc, agency, pb.TransferServiceDefinition, 20_000);
    const { transfer } = await transfers("police").submitTransfer({ caseId, recipient: common.Agency.AGENCY_PROSECUTION, purpose: pb.TransferPurpose.TRANSFER_PURPOSE_PROSECUTION_REVIEW, transferId: "" }, as("legal.li"));
    // The fast-track review (10 days; 8 s here) warns the prosecutors 4 s after receipt.
    const [reviewWarning] = await waitForAlerts(caseId, 1, "prosecutor.zhao", "prosecution");
    expect(reviewWarning).toMatchObject({ roles: ["prosecutor"], recipients: [], timer: { kind: dpb.DeadlineKind.DEADLINE_KIND_PROSECUTION_REVIEW_FAST_TRACK, level: Level.ALERT_LEVEL_WARNING, transferId: transfer!.transferId, partyName: "钱某" } });
    expectOnTime(reviewWarning!);
    // Returned for supplementary investigation before the review's limit: that limit never alerts; the police's month starts.
    const returnedAt = Date.now();
    await transfers("prosecution").returnTransfer({ transferId: transfer!.transferId, reason: pb.ReturnReason.RETURN_REASON_SUPPLEMENTARY_INVESTIGATION, note: "补充侦查：调取监控" }, as("prosecutor.zhao"));
    const [supplementaryWarning, supplementaryLimit] = await waitForAlerts(caseId, 2, "legal.li");
    expect(supplementaryWarning).toMatchObject({ roles: ["police-legal", "unit-leader"], timer: { kind: dpb.DeadlineKind.DEADLINE_KIND_SUPPLEMENTARY_INVESTIGATION, level: Level.ALERT_LEVEL_WARNING } });
    expect(supplementaryLimit).toMatchObject({ escalated: false, timer: { level: Level.ALERT_LEVEL_EXPIRED } });
    // (On a machine slow enough that the return came after the review's limit, that limit alerted before it.)
    const review = await alertsOf("prosecutor.zhao", caseId, "prosecution");
    expect(review.filter((a) => a.timer!.fireAt!.getTime() > returnedAt)).toEqual([]);
    expect(review.map((a) => a.timer!.level)).toContain(Level.ALERT_LEVEL_WARNING);
  }, 60_000);

  it("refuses bad changes and foreign callers with clear errors", async () => {
    const caseId = await openDetentionCase();
    const refused = (promise: Promise<unknown>) => promise.then(() => undefined, (error: CaseBridgeError) => ({ code: error.code, message: error.message, violations: error.violations.map((v) => v.field), descriptions: error.violations.map((v) => v.description) }));
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m1", endsAt: undefined, release: true, reason: " " }, as("officer.wang")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT, violations: ["reason"] });
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m1", endsAt: new Date(), release: true, reason: "x" }, as("officer.wang")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT, violations: ["ends_at"] });
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m1", endsAt: new Date(0), release: false, reason: "x" }, as("officer.wang")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT, violations: ["ends_at"] });
    // Detention may not be extended past 37 days in all (刑事诉讼法第九十一条), nor to an end already past.
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m1", endsAt: new Date(Date.now() + 38 * 86_400_000), release: false, reason: "x" }, as("officer.wang")))).toMatchObject({
      code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT,
      violations: ["ends_at"],
      descriptions: ["may not go past the statutory maximum of 37 days from the measure's start"],
    });
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m1", endsAt: new Date(Date.now() - 1), release: false, reason: "x" }, as("officer.wang")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT, violations: ["ends_at"] });
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m1", endsAt: undefined, release: true, reason: "理".repeat(1001) }, as("officer.wang")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT, violations: ["reason"] });
    const { caseFile: unchanged } = await cases().getCase({ caseId }, as("officer.wang"));
    expect(unchanged!.case!.measures[0]).toMatchObject({ endsAt: undefined, releasedAt: undefined });
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m9", endsAt: undefined, release: true, reason: "x" }, as("officer.wang")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_NOT_FOUND });
    await cases().changeMeasure({ caseId, measureId: "m1", endsAt: undefined, release: true, reason: "释放" }, as("officer.wang"));
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m1", endsAt: undefined, release: true, reason: "释放" }, as("officer.wang")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_FAILED_PRECONDITION });
    expect(await refused(cases().changeMeasure({ caseId, measureId: "m1", endsAt: undefined, release: true, reason: "x" }, as("leader.qian")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_PERMISSION_DENIED });
    expect(await refused(alerts().acknowledgeAlert({ alertId: "no-such-alert" }, as("leader.qian")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_NOT_FOUND });
    expect(await refused(alerts().listAlerts({ unacknowledgedOnly: false, pageSize: 0, pageToken: "" }, as("prosecutor.zhao")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_PERMISSION_DENIED });
    expect(await refused(alerts().listAlerts({ unacknowledgedOnly: false, pageSize: 500, pageToken: "" }, as("leader.qian")))).toMatchObject({ code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT, violations: ["page_size"] });
  }, 60_000);

  it("keeps its timers across a stop of the police service and a kill -9 of nats-server: each alert fires once", async () => {
    const caseId = await openDetentionCase();
    await police!.stop();
    police = undefined;
    natsServer.kill("SIGKILL");
    await new Promise((resolve) => natsServer.once("exit", resolve));
    natsServer = await startNats(natsPort, storeDir);
    // Both points pass while the service is down; the server fires them into the stream meanwhile.
    await sleep(9_000);
    await startPolice();
    const fired = await waitForAlerts(caseId, 2);
    expect(fired.map((a) => a.timer!.level)).toEqual([Level.ALERT_LEVEL_WARNING, Level.ALERT_LEVEL_EXPIRED]);
    await sleep(3_000);
    expect(await alertsOf("leader.qian", caseId)).toHaveLength(2);
  }, 90_000);
});
