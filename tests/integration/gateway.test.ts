import { randomBytes, randomUUID } from "node:crypto";
import path from "node:path";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { connect } from "@nats-io/transport-node";
import { bearerMetadata, devUserToken, grpcClient, natsAuthOptions, natsClient } from "@casebridge/kit";
import { common, transfer as pb } from "@casebridge/proto";
import { createHmac } from "node:crypto";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { loadGatewayConfig } from "../../gateway/src/config";
import { NatsSessionStore, SESSION_BUCKET } from "../../gateway/src/auth/nats-session-store";
import { SessionCipher, sessionKey } from "../../gateway/src/auth/session-cipher";
import { browserLogin, CookieJar, keycloakAdmin } from "./keycloak-browser";
import { startPlatform, type Platform } from "./platform";
import { asOperator, authIssuer, eventually, infra, natsEnv } from "./support";

/** The session secret of the gateways under test (the development default). */
const DEV_SESSION_SECRET = loadGatewayConfig(natsEnv()).sessionSecret;

/** Waits, when less than 5 s of the current minute are left, for the next one (the rate limits count per minute). */
async function freshWindow(): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < 5_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

// The demo users of the real Keycloak realm: one per role, and more police and prosecutors in other units.
const USERS = [
  "officer.wang", "legal.li", "leader.qian", "custodian.chen", "prosecutor.zhao", "judge.sun", "clerk.zhou", "lawyer.wu", "mediator.zheng", "notary.feng", "admin.he",
  "officer.ma", "officer.zhang", "legal.xu", "prosecutor.gao",
] as const;
type User = (typeof USERS)[number];

// Each user's unit (their token's `unit` claim) and which units a unit sees besides its own: the
// supervision table, written out here independently of services/kit/src/units/units.ts.
const UNIT: Record<User, string> = {
  "officer.wang": "320582-PSB-YANGSHE", "leader.qian": "320582-PSB-YANGSHE", "officer.ma": "320582-PSB-JINGANG", "legal.li": "320582-PSB-LEGAL",
  "custodian.chen": "320582-PSB-PROPERTY", "prosecutor.zhao": "320582-PRO", "judge.sun": "320582-CRT", "clerk.zhou": "320582-CRT", "lawyer.wu": "320582-JUS",
  "mediator.zheng": "320582-JUS", "notary.feng": "320582-NOT", "officer.zhang": "320581-PSB-YUSHAN", "legal.xu": "320581-PSB-LEGAL", "prosecutor.gao": "320581-PRO",
  "admin.he": "320500-OPS",
};
const SUPERVISES: Record<string, string[]> = { "320582-PSB-LEGAL": ["320582-PSB-YANGSHE", "320582-PSB-JINGANG"], "320581-PSB-LEGAL": ["320581-PSB-YUSHAN"] };
const sees = (user: User, unit: string): boolean => UNIT[user] === unit || (SUPERVISES[UNIT[user]] ?? []).includes(unit);

// Who may call what: the platform's access rules, written out here independently of the route table.
const STAFF: User[] = ["officer.wang", "officer.ma", "officer.zhang", "legal.li", "legal.xu", "prosecutor.zhao", "prosecutor.gao", "judge.sun", "clerk.zhou", "lawyer.wu", "mediator.zheng", "notary.feng"];
const SENDERS: User[] = ["legal.li", "legal.xu", "prosecutor.zhao", "prosecutor.gao", "judge.sun", "lawyer.wu", "mediator.zheng", "notary.feng"];
const DECIDERS: User[] = [...SENDERS, "clerk.zhou"];
// Police unit leaders read the police cases and get the unit's deadline alerts.
const READERS: User[] = [...STAFF, "leader.qian"];
const ALERTED: User[] = ["officer.wang", "officer.ma", "officer.zhang", "legal.li", "legal.xu", "leader.qian", "prosecutor.zhao", "prosecutor.gao", "judge.sun", "clerk.zhou"];
const EXPECTED_ACCESS: Record<string, readonly User[]> = {
  whoAmI: USERS,
  listServices: ["admin.he"],
  listCases: READERS,
  openCase: STAFF,
  getCase: READERS,
  approveCase: ["legal.li", "legal.xu", "prosecutor.zhao", "prosecutor.gao", "judge.sun", "lawyer.wu", "mediator.zheng", "notary.feng"],
  uploadDocument: STAFF,
  getCaseTimeline: READERS,
  listTransfers: READERS,
  submitTransfer: SENDERS,
  getTransfer: READERS,
  acceptTransfer: DECIDERS,
  returnTransfer: DECIDERS,
  withdrawTransfer: SENDERS,
  getDocument: READERS,
  downloadDocument: READERS,
  exportEvidence: READERS,
  indict: ["prosecutor.zhao", "prosecutor.gao"],
  registerCourtCase: ["judge.sun", "clerk.zhou"],
  recordJudgment: ["judge.sun"],
  listDeadlines: READERS,
  changeMeasure: ["officer.wang", "officer.ma", "officer.zhang", "legal.li", "legal.xu"],
  listAlerts: ALERTED,
  acknowledgeAlert: ALERTED,
  verifyAuditLog: SENDERS,
  listIncidents: ["admin.he"],
  streamChanges: READERS,
};

interface Operation {
  method: string;
  path: string;
  operationId: string;
  hasJsonBody: boolean;
  isUpload: boolean;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}

describe("gateway REST API against the real Keycloak, services, NATS and FerretDB", () => {
  let platform: Platform;
  let base: string;
  let openApi: { paths: Record<string, Record<string, { operationId: string; requestBody?: { content: Record<string, unknown> }; responses: Operation["responses"] }>>; components: unknown };
  let operations: Operation[];
  const tokens = new Map<User, string>();
  const bearer = (user: User) => ({ authorization: `Bearer ${tokens.get(user)!}` });

  beforeAll(async () => {
    platform = await startPlatform("gateway");
    base = platform.gateway.url;
    openApi = (await (await fetch(`${base}/openapi.json`)).json()) as typeof openApi;
    operations = Object.entries(openApi.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        method,
        path,
        operationId: op.operationId,
        hasJsonBody: Boolean(op.requestBody?.content["application/json"]),
        isUpload: Boolean(op.requestBody?.content["*/*"]),
        responses: op.responses,
      })),
    );
    await Promise.all(USERS.map(async (user) => tokens.set(user, await devUserToken(authIssuer, user))));
  }, 120_000);

  afterAll(() => platform?.stop());

  /** Calls an operation with placeholder path parameters. */
  const call = (op: Operation, headers: Record<string, string>, signal?: AbortSignal) =>
    fetch(`${base}${op.path.replace(/\{\w+\}/g, "x-nothing")}${op.isUpload ? "?documentId=d&title=t&documentType=x" : ""}`, {
      method: op.method.toUpperCase(),
      headers: { ...headers, ...(op.hasJsonBody ? { "content-type": "application/json" } : op.isUpload ? { "content-type": "text/plain" } : {}) },
      body: op.hasJsonBody ? "{}" : op.isUpload ? "x" : undefined,
      signal,
    });

  it("serves every operation its OpenAPI document describes, and nothing else under /api", async () => {
    expect(operations.map((op) => op.operationId).sort()).toEqual(Object.keys(EXPECTED_ACCESS).sort());
    for (const op of operations) {
      const res = await call(op, {});
      expect([op.operationId, res.status]).toEqual([op.operationId, 401]);
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    }
    const unknown = await fetch(`${base}/api/v1/nothing-here`, { headers: bearer("legal.li") });
    expect(unknown.status).toBe(404);
  });

  it("answers 403 to every user whose role or agency a route does not allow, and lets the others through (routes × roles)", async () => {
    const outcomes: string[] = [];
    for (const op of operations) {
      for (const user of USERS) {
        const abort = new AbortController();
        const res = await call(op, bearer(user), abort.signal);
        const allowed = EXPECTED_ACCESS[op.operationId]!.includes(user);
        const ok = allowed ? res.status !== 401 && res.status !== 403 : res.status === 403;
        if (!ok) outcomes.push(`${op.operationId} as ${user}: ${res.status} (${allowed ? "allowed" : "forbidden"})`);
        if (!allowed) expect((await res.json()) as { title: string }).toMatchObject({ title: "PERMISSION_DENIED", status: 403 });
        abort.abort(); // ends the event stream of streamChanges
      }
    }
    expect(outcomes).toEqual([]);
  }, 120_000);

  describe("routes × roles × units: each unit sees its own cases and transfers and those of the units it supervises, and no other", () => {
    // A case of 杨舍 (张家港), one of 金港 (张家港) and one of 虞山 (常熟); the first and the last sent to the prosecution.
    const run = randomUUID().slice(0, 8);
    const cases = [
      { caseId: `unit-a-${run}`, opener: "officer.wang", unit: "320582-PSB-YANGSHE", sender: "legal.li", office: "320582-PRO", transferId: "" },
      { caseId: `unit-b-${run}`, opener: "officer.zhang", unit: "320581-PSB-YUSHAN", sender: "legal.xu", office: "320581-PRO", transferId: "" },
      { caseId: `unit-c-${run}`, opener: "officer.ma", unit: "320582-PSB-JINGANG", sender: "", office: "", transferId: "" },
    ] as Array<{ caseId: string; opener: User; unit: string; sender: User | ""; office: string; transferId: string }>;
    const POLICE_READERS: User[] = ["officer.wang", "officer.ma", "officer.zhang", "legal.li", "legal.xu", "leader.qian"];
    const PROSECUTORS: User[] = ["prosecutor.zhao", "prosecutor.gao"];
    const api = async (user: User, path: string, init: { method?: string; body?: unknown } = {}) => {
      const res = await fetch(`${base}${path}`, {
        method: init.method ?? "GET",
        headers: { ...bearer(user), ...(init.body !== undefined ? { "content-type": "application/json" } : {}) },
        body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      });
      const type = res.headers.get("content-type") ?? "";
      return { status: res.status, body: type.includes("json") ? ((await res.json()) as any) : await res.arrayBuffer() };
    };

    beforeAll(async () => {
      for (const c of cases) {
        // The request names another unit as the issuer: ignored, the issuer is the opener's unit (token).
        const opened = await api(c.opener, "/api/v1/cases", {
          method: "POST",
          body: {
            case: { caseId: c.caseId, caseNumber: `${c.unit.slice(0, 6)}-2026-${run}-${c.caseId.slice(5, 6)}`, kind: "CASE_KIND_CRIMINAL", offence: "盗窃", issuer: { unitId: "320500-PRO", name: "x" }, parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "某" }], measures: [{ measureId: "m1", type: "MEASURE_TYPE_CRIMINAL_DETENTION", partyId: "s1", startsAt: new Date().toISOString() }] },
            documents: [{ documentId: "rec-1", title: "起诉意见书", documentType: "recommendation", mediaType: "text/plain", content: Buffer.from(`recommendation ${c.caseId}`).toString("base64") }],
          },
        });
        expect([c.caseId, opened.status, opened.body.case?.issuer]).toEqual([c.caseId, 201, { agency: "AGENCY_POLICE", unitId: c.unit, name: expect.any(String) as string }]);
        if (!c.sender) continue;
        expect((await api(c.sender, `/api/v1/cases/${c.caseId}/approval`, { method: "POST" })).status).toBe(200);
        // No recipient unit named: the procuratorate with jurisdiction over the station; a unit of another agency is refused.
        const wrong = await api(c.sender, "/api/v1/transfers", { method: "POST", body: { caseId: c.caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW", recipientUnitId: "320582-CRT" } });
        expect([wrong.status, wrong.body.violations?.[0]?.field]).toEqual([400, "recipient_unit_id"]);
        const sent = await api(c.sender, "/api/v1/transfers", { method: "POST", body: { caseId: c.caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW" } });
        expect([sent.status, sent.body.senderUnit?.unitId, sent.body.recipientUnit?.unitId]).toEqual([201, c.unit, c.office]);
        c.transferId = sent.body.transferId as string;
      }
      for (const c of cases.filter((k) => k.transferId)) {
        const receiver = PROSECUTORS.find((user) => UNIT[user] === c.office)!;
        await eventually(async () => {
          const got = await api(receiver, `/api/v1/transfers/${c.transferId}`);
          if (got.body.state !== "TRANSFER_STATE_RECEIVED") throw new Error(`${c.transferId} is ${got.status} ${got.body.state ?? ""}`);
        });
        // And in the inbox view (projected a moment later), which timelines and lists read.
        await eventually(async () => {
          const inbox = await api(receiver, `/api/v1/transfers?box=BOX_INBOX&caseId=${c.caseId}`);
          if (inbox.body.transfers?.length !== 1) throw new Error(`${c.caseId} not in ${receiver}'s inbox view yet`);
        });
      }
    }, 90_000);

    it("reads a case, its timeline, its transfer, documents and evidence only from a unit that sees it (404 otherwise, as for no such case)", async () => {
      const outcomes: string[] = [];
      const expectSeen = (what: string, user: User, seen: boolean, status: number) => {
        const ok = seen ? status === 200 : status === 404;
        if (!ok) outcomes.push(`${what} as ${user} (${UNIT[user]}): ${status}, expected ${seen ? 200 : 404}`);
      };
      for (const c of cases) {
        for (const user of POLICE_READERS) {
          const seen = sees(user, c.unit);
          expectSeen(`getCase ${c.caseId}`, user, seen, (await api(user, `/api/v1/cases/${c.caseId}`)).status);
          expectSeen(`getCaseTimeline ${c.caseId}`, user, seen, (await api(user, `/api/v1/cases/${c.caseId}/timeline`)).status);
          if (!c.transferId) continue;
          for (const path of [`/api/v1/transfers/${c.transferId}`, `/api/v1/transfers/${c.transferId}/documents/rec-1`, `/api/v1/transfers/${c.transferId}/documents/rec-1/content`, `/api/v1/transfers/${c.transferId}/evidence`]) {
            expectSeen(`GET ${path.replace(c.transferId, "{" + c.caseId + "}")}`, user, seen, (await api(user, path)).status);
          }
        }
        if (!c.transferId) continue;
        for (const user of PROSECUTORS) {
          const seen = UNIT[user] === c.office;
          expectSeen(`getCaseTimeline ${c.caseId}`, user, seen, (await api(user, `/api/v1/cases/${c.caseId}/timeline`)).status);
          for (const path of [`/api/v1/transfers/${c.transferId}`, `/api/v1/transfers/${c.transferId}/documents/rec-1`, `/api/v1/transfers/${c.transferId}/evidence`]) {
            expectSeen(`GET ${path.replace(c.transferId, "{" + c.caseId + "}")}`, user, seen, (await api(user, path)).status);
          }
        }
      }
      expect(outcomes).toEqual([]);
      // The answer for another unit's case is exactly the answer for a case that does not exist.
      const foreign = await api("officer.zhang", `/api/v1/cases/${cases[0]!.caseId}`);
      const missing = await api("officer.zhang", `/api/v1/cases/${cases[0]!.caseId}-nothing`);
      expect(foreign.body.detail).toBe(missing.body.detail.replace("-nothing", ""));
    }, 60_000);

    it("lists only the cases, transfers and deadlines of the units a user sees", async () => {
      const ours = new Set(cases.map((c) => c.caseId));
      const listed = async (user: User, path: string, key: string) => {
        const { status, body } = await api(user, path);
        expect([user, path, status]).toEqual([user, path, 200]);
        return ((body[key] ?? []) as any[]).map((item) => item.case?.caseId ?? item.caseId).filter((id: string) => ours.has(id)).sort();
      };
      for (const user of POLICE_READERS) {
        const expected = cases.filter((c) => sees(user, c.unit));
        expect([user, await listed(user, "/api/v1/cases?pageSize=200", "caseFiles")]).toEqual([user, expected.map((c) => c.caseId).sort()]);
        expect([user, await listed(user, "/api/v1/transfers?box=BOX_OUTBOX&pageSize=200", "transfers")]).toEqual([user, expected.filter((c) => c.transferId).map((c) => c.caseId).sort()]);
        expect([user, [...new Set(await listed(user, "/api/v1/deadlines", "deadlines"))]]).toEqual([user, expected.map((c) => c.caseId).sort()]);
      }
      for (const user of PROSECUTORS) {
        const expected = cases.filter((c) => c.office === UNIT[user]).map((c) => c.caseId);
        expect([user, await listed(user, "/api/v1/transfers?box=BOX_INBOX&pageSize=200", "transfers")]).toEqual([user, expected]);
        expect([user, [...new Set(await listed(user, "/api/v1/deadlines", "deadlines"))]]).toEqual([user, expected]);
      }
    });

    it("filters a transfer list by case number, kind, fast-track, time of last change and unit, counts the matches, and refuses a unit the user does not see", async () => {
      const found = async (user: User, query: string) => {
        const { status, body } = await api(user, `/api/v1/transfers?${query}`);
        expect([user, query, status]).toEqual([user, query, 200]);
        return { ids: ((body.transfers ?? []) as any[]).map((t) => t.case.caseId as string), total: body.total ?? 0 };
      };
      const soon = new Date(Date.now() + 3_600_000).toISOString();
      expect(await found("legal.li", `box=BOX_OUTBOX&query=2026-${run}`)).toEqual({ ids: [cases[0]!.caseId], total: 1 });
      expect(await found("legal.li", `box=BOX_OUTBOX&query=2026-${run}&unitId=320582-PSB-YANGSHE&sort=TRANSFER_SORT_UPDATED_ASC`)).toEqual({ ids: [cases[0]!.caseId], total: 1 });
      expect(await found("legal.li", `box=BOX_OUTBOX&query=2026-${run}&updatedTo=${encodeURIComponent(soon)}`)).toEqual({ ids: [cases[0]!.caseId], total: 1 });
      for (const none of [`caseKind=CASE_KIND_ADMINISTRATIVE`, `fastTrackOnly=true`, `updatedFrom=${encodeURIComponent(soon)}`, `unitId=320582-PSB-JINGANG`]) {
        expect([none, await found("legal.li", `box=BOX_OUTBOX&query=2026-${run}&${none}`)]).toEqual([none, { ids: [], total: 0 }]);
      }
      expect(await found("prosecutor.zhao", `box=BOX_INBOX&query=${cases[0]!.unit.slice(0, 6)}-2026-${run}`)).toEqual({ ids: [cases[0]!.caseId], total: 1 });
      const foreignUnit = await api("legal.li", `/api/v1/transfers?box=BOX_OUTBOX&unitId=320581-PSB-YUSHAN`);
      expect([foreignUnit.status, foreignUnit.body.violations?.[0]?.field]).toEqual([400, "unit_id"]);
    });

    it("lets the legal unit send a case back to the officer with its opinion, and approve it once the officer added what was asked for", async () => {
      const caseId = `review-${run}`;
      const opened = await api("officer.wang", "/api/v1/cases", {
        method: "POST",
        body: {
          case: { caseId, caseNumber: `320582-2026-R${run}`, kind: "CASE_KIND_CRIMINAL", offence: "盗窃", parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "吴某" }] },
          documents: [{ documentId: "rec-1", title: "起诉意见书", documentType: "recommendation", mediaType: "text/plain; charset=utf-8", content: Buffer.from("起诉意见书").toString("base64") }],
        },
      });
      expect([opened.status, opened.body.documents?.[0]?.ref?.mediaType]).toEqual([201, "text/plain; charset=utf-8"]);
      const ids = async (approval: string) => ((await api("legal.li", `/api/v1/cases?approval=${approval}&pageSize=200`)).body.caseFiles as any[]).map((f) => f.case.caseId as string);
      // Sending back needs a reason; the officer cannot decide; the legal unit sends it back with its opinion.
      const noReason = await api("legal.li", `/api/v1/cases/${caseId}/approval`, { method: "POST", body: { decision: "REVIEW_DECISION_RETURN_TO_OFFICER" } });
      expect([noReason.status, noReason.body.violations?.[0]?.field]).toEqual([400, "opinion"]);
      expect((await api("officer.wang", `/api/v1/cases/${caseId}/approval`, { method: "POST", body: { decision: "REVIEW_DECISION_RETURN_TO_OFFICER", opinion: "x" } })).status).toBe(403);
      const back = await api("legal.li", `/api/v1/cases/${caseId}/approval`, { method: "POST", body: { decision: "REVIEW_DECISION_RETURN_TO_OFFICER", opinion: "缺少被害人陈述，请补充" } });
      expect([back.status, back.body.approved ?? false, back.body.returnedToOfficer, back.body.reviews?.map((r: any) => [r.reviewer, r.decision, r.opinion])]).toEqual([200, false, true, [["legal.li", "REVIEW_DECISION_RETURN_TO_OFFICER", "缺少被害人陈述，请补充"]]]);
      await eventually(async () => {
        const [returned, pending] = [await ids("APPROVAL_RETURNED"), await ids("APPROVAL_PENDING")];
        if (!returned.includes(caseId) || pending.includes(caseId)) throw new Error("the lists do not show the return yet");
      });
      const refused = await api("legal.li", "/api/v1/transfers", { method: "POST", body: { caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW" } });
      expect([refused.status, refused.body.code]).toEqual([409, "FAILED_PRECONDITION"]);
      // The officer adds the statement: the case waits for the legal unit again, which approves it with an opinion.
      const upload = await fetch(`${base}/api/v1/cases/${caseId}/documents?documentId=victim-1&title=${encodeURIComponent("被害人陈述")}&documentType=statement`, { method: "POST", headers: { ...bearer("officer.wang"), "content-type": "text/plain; charset=utf-8" }, body: "被害人陈述" });
      expect(upload.status).toBe(200);
      await eventually(async () => {
        if (!(await ids("APPROVAL_PENDING")).includes(caseId)) throw new Error("not back in the legal unit's queue yet");
      });
      const approved = await api("legal.li", `/api/v1/cases/${caseId}/approval`, { method: "POST", body: { decision: "REVIEW_DECISION_APPROVE", opinion: "证据已补充，同意移送" } });
      expect([approved.status, approved.body.approved, approved.body.returnedToOfficer ?? false, approved.body.reviews?.length]).toEqual([200, true, false, 2]);
      const timeline = await eventually(async () => {
        const entries = (await api("legal.li", `/api/v1/cases/${caseId}/timeline`)).body.entries as any[];
        if (!entries.some((e) => e.action === "approved")) throw new Error("no approval on the timeline yet");
        return entries;
      });
      expect(timeline.filter((e) => e.action !== "opened" && e.action !== "approval-voided").map((e) => [e.action, e.detail.split(" (")[0]])).toEqual([
        ["returned-to-officer", "缺少被害人陈述，请补充"],
        ["approved", "证据已补充，同意移送"],
      ]);
    });

    it("lets no unit change another unit's case or transfer (404), and the right unit still can", async () => {
      const [a, b] = cases as [(typeof cases)[0], (typeof cases)[0]];
      const c = cases[2]!;
      expect((await api("legal.xu", `/api/v1/cases/${c.caseId}/approval`, { method: "POST" })).status).toBe(404);
      expect((await api("officer.zhang", `/api/v1/cases/${a.caseId}/measures/m1`, { method: "POST", body: { reason: "释放", release: true } })).status).toBe(404);
      const upload = await fetch(`${base}/api/v1/cases/${a.caseId}/documents?documentId=more-1&title=t&documentType=x`, { method: "POST", headers: { ...bearer("officer.ma"), "content-type": "text/plain" }, body: "x" });
      expect(upload.status).toBe(404);
      expect((await api("legal.xu", "/api/v1/transfers", { method: "POST", body: { caseId: a.caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW" } })).status).toBe(404);
      expect((await api("legal.xu", `/api/v1/transfers/${a.transferId}/withdrawal`, { method: "POST", body: { reason: "x" } })).status).toBe(404);
      expect((await api("prosecutor.gao", `/api/v1/transfers/${a.transferId}/acceptance`, { method: "POST" })).status).toBe(404);
      expect((await api("prosecutor.zhao", `/api/v1/transfers/${b.transferId}/return`, { method: "POST", body: { reason: "RETURN_REASON_OTHER", note: "x" } })).status).toBe(404);
      // The units that hold them: 金港's case approved by 张家港's legal unit, 常熟's transfer accepted by 常熟's procuratorate.
      expect((await api("legal.li", `/api/v1/cases/${c.caseId}/approval`, { method: "POST" })).body.approved).toBe(true);
      expect((await api("prosecutor.gao", `/api/v1/transfers/${b.transferId}/acceptance`, { method: "POST" })).body.state).toBe("TRANSFER_STATE_ACCEPTED");
      expect((await api("officer.zhang", "/api/v1/me")).body).toMatchObject({ user: "officer.zhang", agency: "police", unit: "320581-PSB-YUSHAN", unitName: "常熟市公安局虞山派出所" });
    });

    it("sends a case to the procuratorate the legal unit names (designated jurisdiction): that office sees it, the local one does not", async () => {
      const caseId = `unit-d-${run}`;
      const opened = await api("officer.wang", "/api/v1/cases", {
        method: "POST",
        body: {
          case: { caseId, caseNumber: `320582-2026-D${run}`, kind: "CASE_KIND_CRIMINAL", offence: "诈骗", parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "某" }] },
          documents: [{ documentId: "rec-1", title: "起诉意见书", documentType: "recommendation", mediaType: "text/plain", content: Buffer.from("recommendation").toString("base64") }],
        },
      });
      expect(opened.status).toBe(201);
      expect((await api("legal.li", `/api/v1/cases/${caseId}/approval`, { method: "POST" })).status).toBe(200);
      const sent = await api("legal.li", "/api/v1/transfers", { method: "POST", body: { caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW", recipientUnitId: "320581-PRO" } });
      expect([sent.status, sent.body.recipientUnit]).toEqual([201, { agency: "AGENCY_PROSECUTION", unitId: "320581-PRO", name: "常熟市人民检察院" }]);
      await eventually(async () => {
        const got = await api("prosecutor.gao", `/api/v1/transfers/${sent.body.transferId}`);
        if (got.body.state !== "TRANSFER_STATE_RECEIVED") throw new Error(`${got.status} ${got.body.state ?? ""}`);
      });
      expect((await api("prosecutor.zhao", `/api/v1/transfers/${sent.body.transferId}`)).status).toBe(404);
      // The sender's side is still 杨舍's: 张家港's legal unit follows it, 常熟's does not.
      expect((await api("legal.li", `/api/v1/transfers/${sent.body.transferId}`)).body.senderUnit.unitId).toBe("320582-PSB-YANGSHE");
      expect((await api("legal.xu", `/api/v1/transfers/${sent.body.transferId}`)).status).toBe(404);
    });
  });

  it("answers 401 to a tampered token, an expired token and a token that is not a JWT", async () => {
    const good = tokens.get("legal.li")!;
    const [header, payload, signature] = good.split(".") as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, realm_access: { roles: ["platform-admin"] } })).toString("base64url")}.${signature}`;
    const shortLived = await devUserToken(authIssuer, "legal.li", "demo", "casebridge-test-short");
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    for (const token of [tampered, shortLived, "not-a-jwt"]) {
      const res = await fetch(`${base}/api/v1/cases`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(401);
    }
    expect((await fetch(`${base}/api/v1/cases`, { headers: { authorization: `Bearer ${good}` } })).status).toBe(200);
  });

  it("drops a change notice that names another agency than the subject it came on (a forged live update)", async () => {
    const abort = new AbortController();
    const stream = await fetch(`${base}/api/v1/events`, { headers: bearer("judge.sun"), signal: abort.signal });
    expect(stream.status).toBe(200);
    const police = await connect({ ...natsAuthOptions("police", path.join(infra.natsCredentialsDir, "police.nk")), servers: infra.natsUrl });
    const court = await connect({ ...natsAuthOptions("court", path.join(infra.natsCredentialsDir, "court.nk")), servers: infra.natsUrl });
    const notice = (transferId: string) => pb.ChangeNotice.encode(pb.ChangeNotice.fromPartial({ agency: common.Agency.AGENCY_COURT, transferId, unitId: "320582-CRT" })).finish();
    let text = "";
    try {
      police.publish("cb.changes.police", notice("forged-by-police"));
      await police.flush();
      court.publish("cb.changes.court", notice("genuine-from-court"));
      await court.flush();
      const reader = stream.body!.getReader();
      const decoder = new TextDecoder();
      const deadline = Date.now() + 20_000;
      while (!text.includes("genuine-from-court") && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    } finally {
      abort.abort();
      await Promise.all([police.close(), court.close()]);
    }
    expect(text).toContain("genuine-from-court");
    expect(text).not.toContain("forged-by-police");
  });

  it("lets one user hold at most 5 live-update streams (the 6th gets 429 problem+json) and ends a stream when its token ends", async () => {
    const open = async (headers: Record<string, string>) => {
      const abort = new AbortController();
      const res = await fetch(`${base}/api/v1/events`, { headers, signal: abort.signal });
      return { res, abort };
    };
    const streams = await eventually(async () => {
      const opened = [];
      for (let i = 0; i < 5; i++) opened.push(await open(bearer("judge.sun")));
      if (opened.some((s) => s.res.status !== 200)) {
        for (const s of opened) s.abort.abort();
        throw new Error(`statuses ${opened.map((s) => s.res.status).join(",")}`); // earlier tests' streams are still closing
      }
      return opened;
    });
    const sixth = await open(bearer("judge.sun"));
    expect(sixth.res.status).toBe(429);
    expect(sixth.res.headers.get("content-type")).toContain("application/problem+json");
    expect(((await sixth.res.json()) as { detail: string }).detail).toContain("5 live-update streams open already");
    // Another user is not affected, and closing one stream frees a place.
    const other = await open(bearer("clerk.zhou"));
    expect(other.res.status).toBe(200);
    other.abort.abort();
    streams[0]!.abort.abort();
    const again = await eventually(async () => {
      const attempt = await open(bearer("judge.sun"));
      if (attempt.res.status !== 200) throw new Error(`still ${attempt.res.status}`);
      return attempt;
    });
    for (const s of [...streams.slice(1), again]) s.abort.abort();

    // A token that lives 1 s: its stream ends by itself, with an "expired" event.
    // On a loaded machine a 1-second token may expire before its stream opens (429 "expired"): take a fresh one until it opens.
    const expiring = await eventually(async () => {
      const attempt = await open({ authorization: `Bearer ${await devUserToken(authIssuer, "legal.li", "demo", "casebridge-test-short")}` });
      if (attempt.res.status !== 200) {
        await attempt.res.arrayBuffer();
        throw new Error(`the stream answered ${attempt.res.status}`);
      }
      return attempt;
    });
    const text = await Promise.race([expiring.res.text(), new Promise<string>((_, reject) => setTimeout(() => reject(new Error("the stream outlived its token by 20 s")), 20_000))]);
    expect(text).toContain("event: expired");
  }, 60_000);

  it("logs in with state and PKCE: refuses another login's answer (login CSRF), a path starting with //, and a logout by GET", async () => {
    // Every answer is read to its end, so that no connection is left open when the gateway stops.
    const get = async (url: string, init: RequestInit = {}) => {
      const res = await fetch(url, { redirect: "manual", ...init });
      await res.arrayBuffer();
      return res;
    };
    const start = await get(`${base}/login`);
    expect(start.status).toBe(302);
    const location = new URL(start.headers.get("location")!);
    expect(location.pathname).toMatch(/\/realms\/casebridge\/protocol\/openid-connect\/auth$/);
    expect(location.searchParams.get("code_challenge_method")).toBe("S256");
    expect(location.searchParams.get("code_challenge")).toMatch(/^[\w-]{43}$/);
    const state = location.searchParams.get("state")!;
    const cookies = start.headers.getSetCookie();
    expect(cookies.some((c) => c.startsWith("casebridge.sid="))).toBe(false); // no session before the user comes back
    const loginCookie = cookies.find((c) => c.startsWith("casebridge.login="))!.split(";")[0]!;
    const callback = (query: string, cookie?: string) => get(`${base}/login/callback?${query}`, { headers: cookie ? { cookie } : {} });
    // An attacker's login answer (its own state and code) planted in this browser: refused.
    const foreign = await callback("state=attackers-state&code=attackers-code", loginCookie);
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get("content-type")).toContain("application/problem+json");
    // The right state without the browser's login cookie (another browser), or a forged cookie: refused.
    expect((await callback(`state=${state}&code=x`)).status).toBe(403);
    expect((await callback(`state=${state}&code=x`, `casebridge.login=${Buffer.from(JSON.stringify({ state, verifier: "v", exp: Date.now() + 60_000 })).toString("base64url")}.forged`)).status).toBe(403);
    // The right state, but a code that is not this login's: Keycloak refuses it, and no session is opened.
    const wrongCode = await callback(`state=${state}&code=not-a-code`, loginCookie);
    expect(wrongCode.status).toBe(401);
    expect(wrongCode.headers.getSetCookie().some((c) => c.startsWith("casebridge.sid="))).toBe(false);
    // keycloak-connect's own callback (no state check) is refused before the adapter; the realm also requires PKCE of the gateway client.
    expect((await get(`${base}/?auth_callback=1&state=x&code=y`)).status).toBe(401);
    // A path starting with // could turn into an off-site redirect: refused, with no Location.
    const offSite = await get(`${base}//evil.example/x?auth_callback=1`);
    expect([offSite.status, offSite.headers.get("location")]).toEqual([400, null]);
    // /login is throttled per client address (LOGINS_PER_MINUTE, 3 on these gateways), counted across replicas, and stores nothing when refused.
    const [one, two] = [await platform.gatewayWith({ LOGINS_PER_MINUTE: "3" }), await platform.gatewayWith({ LOGINS_PER_MINUTE: "3" })];
    const client = { "x-forwarded-for": `198.51.100.${1 + Math.floor(Math.random() * 250)}` }; // a client of its own (behind the loopback proxy)
    await freshWindow();
    const statuses = [];
    for (const gateway of [one, two, one, two]) statuses.push(await get(`${gateway.url}/login`, { headers: client }));
    expect(statuses.map((res) => res.status)).toEqual([302, 302, 302, 429]);
    expect(statuses[3]!.headers.get("content-type")).toContain("application/problem+json");
    expect(statuses[3]!.headers.getSetCookie()).toEqual([]);
    expect((await get(`${one.url}/login`, { headers: client })).status).toBe(429);
    // keycloak-connect's legacy admin endpoints are not there; the back channel takes POST only.
    for (const legacy of ["/k_logout", "/k_push_not_before"]) expect((await fetch(`${base}${legacy}`, { method: "POST", body: "x" })).status).toBe(404);
    const getLogout = await get(`${base}/backchannel-logout`);
    expect([getLogout.status, getLogout.headers.get("allow"), getLogout.headers.get("content-type")]).toEqual([405, "POST", expect.stringContaining("application/problem+json")]);
    // Logout is POST only: a GET (a link or image anywhere, same site or not) signs nobody out.
    for (const headers of [{ "sec-fetch-site": "cross-site" }, {}] as Record<string, string>[]) {
      const logout = await get(`${base}/logout`, { headers });
      expect([logout.status, logout.headers.get("allow"), logout.headers.get("content-type")]).toEqual([405, "POST", expect.stringContaining("application/problem+json")]);
    }
  }, 30_000);

  it("refuses, at the gateway and at the service, a genuine realm token that is not for the CaseBridge API (no audience)", async () => {
    const foreign = await devUserToken(authIssuer, "legal.li", "demo", "casebridge-test-noaud");
    const claims = JSON.parse(Buffer.from(foreign.split(".")[1]!, "base64url").toString()) as { aud?: string | string[]; agency?: string };
    expect([claims.aud].flat()).not.toContain("casebridge-api");
    expect(claims.agency).toBe("police"); // otherwise a full token: only the audience is missing
    const res = await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${foreign}` } });
    expect(res.status).toBe(401);
    // Past the gateway too: the police service itself refuses it over NATS.
    const nc = await connect({ ...asOperator(), servers: infra.natsUrl });
    try {
      await expect(natsClient(nc, "police", pb.CaseFileServiceDefinition, 10_000).listCases({ approval: 0, pageSize: 1, pageToken: "" }, { metadata: bearerMetadata(foreign) })).rejects.toMatchObject({
        code: common.ErrorCode.ERROR_CODE_UNAUTHENTICATED,
        message: expect.stringContaining("not for the CaseBridge API") as string,
      });
    } finally {
      await nc.close();
    }
  });

  it("enforces the limits the contracts declare at the gateway (400 naming the field) and at the service over NATS and gRPC (INVALID_ARGUMENT), storing nothing", async () => {
    const caseId = `limits-${randomUUID()}`;
    const kase = { caseId, caseNumber: "320582-2026-70002", kind: "CASE_KIND_CRIMINAL", offence: "盗窃", parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "钱某" }] };
    const document = { documentId: "d1", title: "起".repeat(501), documentType: "evidence-list", mediaType: "application/pdf", content: Buffer.from("%PDF").toString("base64") };
    const post = (body: unknown) => fetch(`${base}/api/v1/cases`, { method: "POST", headers: { ...bearer("officer.wang"), "content-type": "application/json" }, body: JSON.stringify(body) });
    const problem = async (res: Response) => [res.status, res.headers.get("content-type"), (await res.json()) as { code: string; violations?: { field: string; description: string }[] }] as const;

    // The title is one character over DocumentInput.title's max_len (500).
    const [status, type, body] = await problem(await post({ case: kase, documents: [document] }));
    expect([status, type]).toEqual([400, "application/problem+json; charset=utf-8"]);
    expect(body).toMatchObject({ code: "INVALID_ARGUMENT", violations: [{ field: "body.documents.0.title", description: "must NOT have more than 500 characters" }] });
    // Invalid base64 in a bytes field is refused, not silently decoded to something else.
    const [badStatus, , badBody] = await problem(await post({ case: kase, documents: [{ ...document, title: "证据", content: "not base64!" }] }));
    expect([badStatus, badBody.code, badBody.violations?.map((v) => v.field)]).toEqual([400, "INVALID_ARGUMENT", ["body.documents.0.content"]]);
    expect((await fetch(`${base}/api/v1/cases/${caseId}`, { headers: bearer("officer.wang") })).status).toBe(404);

    // Straight to the police service, past the gateway: the same limit, the same field, nothing stored.
    const request = pb.OpenCaseRequest.fromJSON({ case: kase, documents: [document] });
    const call = { metadata: bearerMetadata(tokens.get("officer.wang")!) };
    const refusal = { code: common.ErrorCode.ERROR_CODE_INVALID_ARGUMENT, violations: [{ field: "documents[0].title", description: "must be at most 500 characters" }] };
    const nc = await connect({ ...asOperator(), servers: infra.natsUrl });
    const grpc = grpcClient(`127.0.0.1:${platform.services.police.grpcPort}`, pb.CaseFileServiceDefinition, 10_000);
    try {
      const overNats = natsClient(nc, "police", pb.CaseFileServiceDefinition, 10_000);
      await expect(overNats.openCase(request, call)).rejects.toMatchObject(refusal);
      await expect(grpc.openCase(request, call)).rejects.toMatchObject(refusal);
      await expect(overNats.openCase({ ...request, case: { ...request.case!, summary: "x".repeat(5001) }, documents: [] }, call)).rejects.toMatchObject({ violations: [{ field: "case.summary" }] });
      await expect(overNats.getCase({ caseId }, call)).rejects.toMatchObject({ code: common.ErrorCode.ERROR_CODE_NOT_FOUND });
    } finally {
      grpc.close();
      await nc.close();
    }
  });

  it("answers every 4xx of HTTP itself with problem+json and a stable code: 431, 413, 415, 405, 404", async () => {
    const problem = async (res: Response) => ({ status: res.status, type: res.headers.get("content-type"), code: ((await res.json()) as { code: string }).code });
    const json = "application/problem+json; charset=utf-8";
    // Node's HTTP parser refuses 20 KB of header fields (its limit is 16 KiB) before Express sees the request.
    expect(await problem(await fetch(`${base}/api/v1/me`, { headers: { ...bearer("legal.li"), "x-padding": "a".repeat(20 * 1024) } }))).toEqual({ status: 431, type: json, code: "HEADERS_TOO_LARGE" });
    const post = (type: string, body: string) => fetch(`${base}/api/v1/cases`, { method: "POST", headers: { ...bearer("officer.wang"), "content-type": type }, body });
    expect(await problem(await post("application/json", JSON.stringify({ padding: "a".repeat(3 * 1024 * 1024) })))).toEqual({ status: 413, type: json, code: "PAYLOAD_TOO_LARGE" });
    expect(await problem(await post("text/plain", "{}"))).toEqual({ status: 415, type: json, code: "UNSUPPORTED_MEDIA_TYPE" });
    const wrongMethod = await fetch(`${base}/api/v1/me`, { method: "POST", headers: bearer("legal.li") });
    expect(wrongMethod.headers.get("allow")).toBe("GET, HEAD");
    expect(await problem(wrongMethod)).toEqual({ status: 405, type: json, code: "METHOD_NOT_ALLOWED" });
    expect(await problem(await fetch(`${base}/api/v1/nothing-here`, { headers: bearer("legal.li") }))).toEqual({ status: 404, type: json, code: "NOT_FOUND" });
    expect(await problem(await fetch(`${base}/api/v1/me`))).toEqual({ status: 401, type: json, code: "UNAUTHENTICATED" });
    // The gateway still answers after the parser refused a request.
    expect((await fetch(`${base}/api/v1/me`, { headers: bearer("legal.li") })).status).toBe(200);
  });

  describe("a case through the API, every answer checked against /openapi.json", () => {
    const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
    const caseId = `api-${randomUUID()}`;
    const caseNumber = `320582-2026-A${caseId.slice(4, 12)}`;
    let transferId = "";

    /** Calls the API and checks the answer against the documented schema of `operationId` for its status. */
    async function documented(operationId: string, user: User, path: string, init: { method?: string; body?: unknown; raw?: Buffer; type?: string } = {}): Promise<{ status: number; body: any }> {
      const res = await fetch(`${base}${path}`, {
        method: init.method ?? "GET",
        headers: { ...bearer(user), ...(init.body !== undefined ? { "content-type": "application/json" } : init.raw ? { "content-type": init.type ?? "application/octet-stream" } : {}) },
        body: init.body !== undefined ? JSON.stringify(init.body) : init.raw,
      });
      const body = (await res.json());
      const op = operations.find((o) => o.operationId === operationId)!;
      const documentedResponse = op.responses[String(res.status)];
      expect([operationId, res.status, documentedResponse !== undefined]).toEqual([operationId, res.status, true]);
      const schema = Object.values(documentedResponse!.content ?? {})[0]?.schema;
      const validate = ajv.compile({ ...(schema as object), components: openApi.components });
      if (!validate(body)) throw new Error(`${operationId} answered ${res.status} with a body that does not match /openapi.json: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
      return { status: res.status, body };
    }

    it("refuses bad input with a problem body and stores nothing", async () => {
      const bad = await documented("openCase", "officer.wang", "/api/v1/cases", { method: "POST", body: { case: { caseId, kind: "CASE_KIND_SPACESHIP" }, extra: 1 } });
      expect(bad.status).toBe(400);
      expect(bad.body.violations.map((v: { field: string }) => v.field).sort()).toEqual(["body.case.kind", "body.extra"]);
      expect((await documented("getCase", "officer.wang", `/api/v1/cases/${caseId}`)).status).toBe(404);
      const wrongType = await fetch(`${base}/api/v1/cases`, { method: "POST", headers: { ...bearer("officer.wang"), "content-type": "text/plain" }, body: "{}" });
      expect(wrongType.status).toBe(415);
      const notJson = await fetch(`${base}/api/v1/cases`, { method: "POST", headers: { ...bearer("officer.wang"), "content-type": "application/json" }, body: "{nope" });
      expect([notJson.status, ((await notJson.json()) as { detail: string }).detail]).toEqual([400, "the body is not valid JSON"]);
      // A path that is not valid percent-encoded UTF-8 is the caller's error, not the server's.
      const badPath = await fetch(`${base}/api/v1/cases/%FF%FE`, { headers: bearer("officer.wang") });
      expect([badPath.status, badPath.headers.get("content-type"), ((await badPath.json()) as { title: string }).title]).toEqual([400, "application/problem+json; charset=utf-8", "INVALID_ARGUMENT"]);
      const badPage = await documented("listTransfers", "legal.li", "/api/v1/transfers?box=BOX_INBOX&pageSize=999");
      expect(badPage.status).toBe(400);
    });

    it("opens a case, uploads a document, approves and submits it; the prosecution sees it arrive live, seals valid, and accepts it", async () => {
      const opened = await documented("openCase", "officer.wang", "/api/v1/cases", {
        method: "POST",
        body: { case: { caseId, caseNumber, kind: "CASE_KIND_CRIMINAL", offence: "盗窃", fastTrack: true, parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "钱某" }] }, documents: [] },
      });
      expect(opened.status).toBe(201);
      // The same number again (full-width digits, small letters: the same number), or the same case id: 409 with a stable code, and nothing stored.
      const sameNumber = `${caseNumber.replace(/[0-9]/g, (d) => String.fromCharCode(0xff10 + Number(d))).toLowerCase()} `;
      const other = `api-${randomUUID()}`;
      const duplicate = await documented("openCase", "officer.ma", "/api/v1/cases", {
        method: "POST",
        body: { case: { caseId: other, caseNumber: sameNumber, kind: "CASE_KIND_CRIMINAL", offence: "盗窃", parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "孙某" }] }, documents: [] },
      });
      expect([duplicate.status, duplicate.body.code, duplicate.body.detail]).toEqual([409, "ALREADY_EXISTS", expect.stringContaining(`case number ${sameNumber} is taken`)]);
      expect((await documented("getCase", "legal.li", `/api/v1/cases/${other}`)).status).toBe(404);
      const again = await documented("openCase", "officer.wang", "/api/v1/cases", {
        method: "POST",
        body: { case: { caseId, caseNumber: `${caseNumber}-2`, kind: "CASE_KIND_CRIMINAL", offence: "盗窃", parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "孙某" }] }, documents: [] },
      });
      expect([again.status, again.body.code]).toEqual([409, "ALREADY_EXISTS"]);
      const content = randomBytes(300_000);
      const uploaded = await documented("uploadDocument", "officer.wang", `/api/v1/cases/${caseId}/documents?documentId=evidence-1&title=${encodeURIComponent("证据清单")}&documentType=evidence-list`, { method: "POST", raw: content, type: "application/pdf" });
      expect(uploaded.body.documents[0].ref).toMatchObject({ documentId: "evidence-1", mediaType: "application/pdf", sizeBytes: content.length });
      const tooBig = await fetch(`${base}/api/v1/cases/${caseId}/documents?documentId=big&title=big&documentType=x`, { method: "POST", headers: { ...bearer("officer.wang"), "content-type": "application/pdf" }, body: Buffer.alloc(20 * 1024 * 1024 + 1) });
      expect(tooBig.status).toBe(413);

      // The approval queue is a read model, projected a moment after the case was opened.
      const pending = await eventually(async () => {
        const page = await documented("listCases", "legal.li", "/api/v1/cases?approval=APPROVAL_PENDING");
        if (!page.body.caseFiles.some((f: any) => f.case.caseId === caseId)) throw new Error("not in the approval queue view yet");
        return page;
      });
      expect(pending.body.caseFiles.map((f: any) => f.case.caseId)).toContain(caseId);
      const notYet = await documented("submitTransfer", "legal.li", "/api/v1/transfers", { method: "POST", body: { caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW" } });
      expect(notYet.status).toBe(409);
      expect((await documented("approveCase", "legal.li", `/api/v1/cases/${caseId}/approval`, { method: "POST" })).body.approved).toBe(true);

      // The prosecutor's live stream is open before the case is sent.
      const events = await fetch(`${base}/api/v1/events`, { headers: bearer("prosecutor.zhao") });
      expect(events.headers.get("content-type")).toMatch(/^text\/event-stream/);
      const reader = events.body!.getReader();
      let seen = "";
      const arrived = (async () => {
        while (!seen.includes(`"caseId":"${caseId}","state":"TRANSFER_STATE_RECEIVED"`)) {
          const { value, done } = await reader.read();
          if (done) break;
          seen += Buffer.from(value).toString();
        }
      })();
      // 常熟's procuratorate has a stream open too: it is told nothing of 张家港's case.
      const otherEvents = await fetch(`${base}/api/v1/events`, { headers: bearer("prosecutor.gao") });
      const otherReader = otherEvents.body!.getReader();
      let otherSeen = "";
      void (async () => {
        for (;;) {
          const { value, done } = await otherReader.read().catch(() => ({ value: undefined, done: true }));
          if (done) break;
          otherSeen += Buffer.from(value).toString();
        }
      })();
      const submitted = await documented("submitTransfer", "legal.li", "/api/v1/transfers", { method: "POST", body: { caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW" } });
      transferId = submitted.body.transferId;
      await Promise.race([arrived, new Promise((_, reject) => setTimeout(() => reject(new Error(`no live RECEIVED event; stream so far:\n${seen}`)), 20_000))]);
      await reader.cancel();
      expect(seen).toMatch(/event: change\ndata: \{"agency":"AGENCY_PROSECUTION"/);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await otherReader.cancel();
      expect(otherSeen).toContain(": connected");
      expect(otherSeen).not.toContain(caseId);

      const inbox = await documented("listTransfers", "prosecutor.zhao", `/api/v1/transfers?box=BOX_INBOX&caseId=${caseId}`);
      expect(inbox.body.transfers).toHaveLength(1);
      const received = await documented("getTransfer", "prosecutor.zhao", `/api/v1/transfers/${transferId}`);
      expect(received.body).toMatchObject({ state: "TRANSFER_STATE_RECEIVED", verification: { status: "VERIFICATION_STATUS_VALID" } });
      const doc = await documented("getDocument", "prosecutor.zhao", `/api/v1/transfers/${transferId}/documents/evidence-1`);
      expect(doc.body.verification).toMatchObject({ status: "VERIFICATION_STATUS_VALID", seal: { agency: "AGENCY_POLICE" } });
      const download = await fetch(`${base}/api/v1/transfers/${transferId}/documents/evidence-1/content`, { headers: bearer("prosecutor.zhao") });
      expect([download.status, download.headers.get("content-type")]).toEqual([200, "application/pdf"]);
      expect(Buffer.from(await download.arrayBuffer()).equals(content)).toBe(true);
      // The court is no party to this transfer.
      expect((await documented("getTransfer", "judge.sun", `/api/v1/transfers/${transferId}`)).status).toBe(404);

      const accepted = await documented("acceptTransfer", "prosecutor.zhao", `/api/v1/transfers/${transferId}/acceptance`, { method: "POST" });
      expect(accepted.body.state).toBe("TRANSFER_STATE_ACCEPTED");
      await eventually(async () => {
        const sent = await documented("getTransfer", "legal.li", `/api/v1/transfers/${transferId}`);
        expect(sent.body.state).toBe("TRANSFER_STATE_ACCEPTED");
      });
      const timeline = await documented("getCaseTimeline", "legal.li", `/api/v1/cases/${caseId}/timeline`);
      expect(timeline.body.entries.map((e: any) => e.action)).toEqual(expect.arrayContaining(["opened", "approved", "submitted", "received", "accepted"]));
      const deadlines = await documented("listDeadlines", "prosecutor.zhao", "/api/v1/deadlines");
      expect(deadlines.body.deadlines).toContainEqual(expect.objectContaining({ caseId, kind: "prosecution-review", rule: "速裁审查起诉: 10 days" }));
      const audit = await documented("verifyAuditLog", "prosecutor.zhao", "/api/v1/audit/verification");
      expect(audit.body.intact).toBe(true);
      expect((await documented("whoAmI", "prosecutor.zhao", "/api/v1/me")).body).toMatchObject({ user: "prosecutor.zhao", agency: "prosecution", roles: expect.arrayContaining(["prosecutor"]) });
    }, 60_000);
  });

  describe("browser sessions: nonce, POST-only logout, back-channel logout, sealed at rest", () => {
    const me = (cookies: CookieJar, url = base) => fetch(`${url}/api/v1/me`, { headers: { cookie: cookies.header() } });
    /** The session id inside the signed session cookie (s:<id>.<signature>). */
    const sessionIdOf = (cookies: CookieJar) => /^s:(.+)\.[^.]+$/.exec(decodeURIComponent(cookies.get("casebridge.sid") ?? ""))![1]!;
    let nc: NatsConnection;
    let sessions: KV;
    let restoreClient: () => Promise<void>;
    /** Whether the bucket holds a session under `key` (not purged). */
    const stored = async (key: string) => (await sessions.get(key))?.operation === "PUT";

    beforeAll(async () => {
      nc = await connect({ ...asOperator(), servers: infra.natsUrl });
      sessions = await new Kvm(nc).open(SESSION_BUCKET);
      // The realm knows the dev and browser-test ports only: this gateway's random port is added for these tests.
      restoreClient = await keycloakAdmin.registerGateway(base);
    });
    afterAll(async () => {
      await restoreClient?.();
      await nc?.close();
    });

    it("opens a session only when the ID token carries this login's nonce", async () => {
      const { gateway, callback } = await browserLogin(base, "judge.sun", "demo", (url) => {
        expect(url.searchParams.get("nonce")).toMatch(/^[\w-]{24}$/);
        url.searchParams.set("nonce", "a-nonce-of-another-login");
      });
      expect(callback.status).toBe(401);
      expect(callback.headers.get("content-type")).toContain("application/problem+json");
      expect(gateway.get("casebridge.sid")).toBeUndefined();
      const good = await browserLogin(base, "judge.sun");
      expect([good.callback.status, good.callback.headers.get("location")]).toEqual([302, "/"]);
      expect(((await (await me(good.gateway)).json()) as { user: string }).user).toBe("judge.sun");
    });

    it("keeps no token in the clear in the session bucket, and a value copied under another session id opens no session", async () => {
      const { gateway } = await browserLogin(base, "clerk.zhou");
      const entry = await sessions.get(NatsSessionStore.keyOf(sessionIdOf(gateway)));
      const raw = entry!.string();
      expect(raw).toMatch(/^v1\.[0-9a-f]{8}\./);
      expect(raw).not.toMatch(/eyJ|access_token|keycloak-token|clerk/);
      // Copied under another session id (with a validly signed cookie for that id): refused.
      const otherId = `copied-${randomUUID()}`;
      await sessions.put(NatsSessionStore.keyOf(otherId), raw);
      const forged = new CookieJar();
      forged.set("casebridge.sid", encodeURIComponent(`s:${otherId}.${createHmac("sha256", DEV_SESSION_SECRET).update(otherId).digest("base64").replace(/=+$/, "")}`));
      expect((await me(forged)).status).toBe(401);
      expect((await me(gateway)).status).toBe(200);
    });

    it("signs out only by a same-site POST, which ends the session and sends the browser to Keycloak's end-session endpoint", async () => {
      const { gateway } = await browserLogin(base, "lawyer.wu");
      const post = (headers: Record<string, string>) => fetch(`${base}/logout`, { method: "POST", redirect: "manual", headers: { cookie: gateway.header(), ...headers } });
      const crossSite = await post({ origin: "https://evil.example", "sec-fetch-site": "cross-site" });
      expect([crossSite.status, crossSite.headers.get("content-type")]).toEqual([403, expect.stringContaining("application/problem+json")]);
      expect((await me(gateway)).status).toBe(200);
      const done = await post({ origin: base, "sec-fetch-site": "same-origin" });
      expect(done.status).toBe(303);
      const endSession = new URL(done.headers.get("location")!);
      expect(`${endSession.origin}${endSession.pathname}`).toBe(`${authIssuer}/protocol/openid-connect/logout`);
      expect(endSession.searchParams.get("post_logout_redirect_uri")).toBe(`${base}/`);
      expect(endSession.searchParams.get("id_token_hint")).toMatch(/^eyJ/);
      expect((await me(gateway)).status).toBe(401);
      expect(await stored(NatsSessionStore.keyOf(sessionIdOf(gateway)))).toBe(false);
    });

    it("ends the gateway session and refuses the session's tokens, even as a bearer token, after Keycloak's back-channel logout", async () => {
      {
        const { gateway } = await browserLogin(base, "mediator.zheng");
        const key = NatsSessionStore.keyOf(sessionIdOf(gateway));
        // The session's own access token (the gateway's test key opens it), used as a program would.
        const cipher = new SessionCipher(sessionKey(loadGatewayConfig(natsEnv()).sessionEncryptionKey));
        const data = JSON.parse(cipher.open(sessionIdOf(gateway), (await sessions.get(key))!.string())!) as Record<string, string>;
        const accessToken = (JSON.parse(data["keycloak-token"]!) as { access_token: string }).access_token;
        const claims = JSON.parse(Buffer.from(accessToken.split(".")[1]!, "base64url").toString()) as { sid?: string };
        expect(claims.sid).toBeTruthy();
        const asBearer = () => fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } });
        expect((await asBearer()).status).toBe(200);
        expect((await me(gateway)).status).toBe(200);
        // A forged logout token is refused.
        const forged = await fetch(`${base}/backchannel-logout`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams({ logout_token: accessToken }) });
        expect(forged.status).toBe(400);
        expect((await asBearer()).status).toBe(200);
        // A live-update stream the session's token opened: it ends with the session, long before its token would.
        const stream = await fetch(`${base}/api/v1/events`, { headers: { authorization: `Bearer ${accessToken}` } });
        expect(stream.status).toBe(200);
        const streamText = stream.text();
        // The administrator ends the user's Keycloak sessions: Keycloak posts a logout token to the gateway.
        await keycloakAdmin.call("POST", `/users/${await keycloakAdmin.userId("mediator.zheng")}/logout`);
        let outlived: NodeJS.Timeout | undefined;
        const ended = await Promise.race([streamText, new Promise<string>((_, reject) => (outlived = setTimeout(() => reject(new Error("the stream outlived its session by 30 s")), 30_000)))]);
        clearTimeout(outlived);
        expect(ended).toContain("event: expired");
        await eventually(async () => {
          if ((await me(gateway)).status !== 401) throw new Error("the session still works");
        });
        expect(await stored(key)).toBe(false);
        const refused = await asBearer();
        expect([refused.status, refused.headers.get("content-type")]).toEqual([401, expect.stringContaining("application/problem+json")]);
        // Every replica refuses it (the logout is shared in NATS), and the user's new sessions work.
        const other = await platform.gatewayWith({});
        expect((await fetch(`${other.url}/api/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } })).status).toBe(401);
        expect((await fetch(`${other.url}/api/v1/me`, { headers: { authorization: `Bearer ${await devUserToken(authIssuer, "mediator.zheng")}` } })).status).toBe(200);
      }
    }, 60_000);

    it("ends only the session whose Keycloak session ended, and every session of a user an administrator signs out (Keycloak's one logout token names one of them)", async () => {
      const [first, second, third] = [await browserLogin(base, "notary.feng"), await browserLogin(base, "notary.feng"), await browserLogin(base, "notary.feng")];
      expect([(await me(first.gateway)).status, (await me(second.gateway)).status, (await me(third.gateway)).status]).toEqual([200, 200, 200]);
      // One Keycloak session ends (its own logout token): that gateway session ends, the user's others go on (Keycloak still holds them).
      const cipher = new SessionCipher(sessionKey(loadGatewayConfig(natsEnv()).sessionEncryptionKey));
      const data = JSON.parse(cipher.open(sessionIdOf(third.gateway), (await sessions.get(NatsSessionStore.keyOf(sessionIdOf(third.gateway))))!.string())!) as Record<string, string>;
      const { id_token: idToken } = JSON.parse(data["keycloak-token"]!) as { id_token: string };
      const { sid } = JSON.parse(Buffer.from(idToken.split(".")[1]!, "base64url").toString()) as { sid: string };
      await keycloakAdmin.call("DELETE", `/sessions/${sid}`);
      await eventually(async () => {
        if ((await me(third.gateway)).status !== 401) throw new Error("the ended session still works");
      });
      await new Promise((resolve) => setTimeout(resolve, 3_000)); // past the gateway's first check of the user's other sessions
      expect([(await me(first.gateway)).status, (await me(second.gateway)).status]).toEqual([200, 200]);
      // The administrator signs the user out: Keycloak sends one logout token, naming one session, for both.
      await keycloakAdmin.call("POST", `/users/${await keycloakAdmin.userId("notary.feng")}/logout`);
      await eventually(async () => {
        const statuses = [(await me(first.gateway)).status, (await me(second.gateway)).status];
        if (statuses.some((status) => status !== 401)) throw new Error(`sessions still open: ${statuses.join(", ")}`);
      });
      expect(await stored(NatsSessionStore.keyOf(sessionIdOf(first.gateway)))).toBe(false);
      expect(await stored(NatsSessionStore.keyOf(sessionIdOf(second.gateway)))).toBe(false);
    }, 60_000);
  });

  it("limits each user's requests per minute with 429 and RateLimit headers, counted across gateway replicas, without slowing other users", async () => {
    // A user of its own, so that no other test's requests this minute count.
    const [user, other] = [await keycloakAdmin.createUser(), await keycloakAdmin.createUser()];
    try {
      const token = { authorization: `Bearer ${await devUserToken(authIssuer, user.username, user.password)}` };
      const [one, two] = [await platform.gatewayWith({ RATE_LIMIT_PER_MINUTE: "4" }), await platform.gatewayWith({ RATE_LIMIT_PER_MINUTE: "4" })];
      await freshWindow();
      const statuses: number[] = [];
      for (const gateway of [one, two, one, two, one]) statuses.push((await fetch(`${gateway.url}/api/v1/me`, { headers: token })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 429]);
      const refused = await fetch(`${two.url}/api/v1/me`, { headers: token });
      expect(refused.status).toBe(429);
      expect(refused.headers.get("ratelimit-policy")).toMatch(/q=4/);
      expect((await refused.json()) as { title: string }).toMatchObject({ title: "RESOURCE_EXHAUSTED", status: 429 });
      expect((await fetch(`${one.url}/api/v1/me`, { headers: { authorization: `Bearer ${await devUserToken(authIssuer, other.username, other.password)}` } })).status).toBe(200);
    } finally {
      await keycloakAdmin.deleteUser(user.id);
      await keycloakAdmin.deleteUser(other.id);
    }
  }, 30_000);
});
