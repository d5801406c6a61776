// k6 load test: the police hand cases to the prosecution through the gateway, as in the web UI:
// an officer opens a case with two sealed documents, the legal unit approves and submits it, and the
// prosecutor's view of it is polled until it is RECEIVED (every seal verified by the prosecution).
//   npm run load -- transfer            (against the platform of `npm start`)
// Figures: transfer_received (submit → RECEIVED at the prosecution, ms) and the usual http_req_*.
import http from "k6/http";
import encoding from "k6/encoding";
import { check, sleep } from "k6";
import { Trend, Counter } from "k6/metrics";
import { signIn } from "./lib/sign-in.js";

const GATEWAY = __ENV.GATEWAY_URL || "http://127.0.0.1:8088";
const REALM = `${__ENV.KEYCLOAK_URL || "http://127.0.0.1:8180"}/realms/casebridge`;
const received = new Trend("transfer_received", true);
const lost = new Counter("transfers_not_received");

export const options = {
  scenarios: {
    handoffs: { executor: "constant-vus", vus: Number(__ENV.VUS || 4), duration: __ENV.DURATION || "60s" },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    transfer_received: ["p(95)<5000"],
    transfers_not_received: ["count<1"],
    checks: ["rate>0.99"],
  },
};

/** Signs in the officer, the legal unit and the prosecutor once (code flow with PKCE, lib/sign-in.js; the demo password is a dev default). */
export function setup() {
  const token = (username) => signIn(REALM, username, __ENV.DEMO_PASSWORD || "demo");
  return { officer: token("officer.wang"), legal: token("legal.li"), prosecutor: token("prosecutor.zhao") };
}

const json = (token) => ({ headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } });
const text = (id, title, body) => ({ documentId: id, title, documentType: id, mediaType: "text/plain", content: encoding.b64encode(body) });

export default function (tokens) {
  const caseId = `k6-${__VU}-${__ITER}-${Date.now()}`;
  const opened = http.post(
    `${GATEWAY}/api/v1/cases`,
    JSON.stringify({
      case: { caseId, caseNumber: `K6-${caseId}`, kind: "CASE_KIND_CRIMINAL", offence: "盗窃 (theft)", fastTrack: true, parties: [{ partyId: "s1", role: "PARTY_ROLE_SUSPECT", name: "测试" }] },
      documents: [text("recommendation", "起诉意见书", "建议提起公诉。".repeat(200)), text("evidence-list", "证据清单", "监控录像；询问笔录。".repeat(200))],
    }),
    { ...json(tokens.officer), tags: { name: "open case" } },
  );
  if (!check(opened, { "case opened": (r) => r.status === 201 })) return;
  const approved = http.post(`${GATEWAY}/api/v1/cases/${caseId}/approval`, null, { ...json(tokens.legal), tags: { name: "approve" } });
  if (!check(approved, { "case approved": (r) => r.status === 200 })) return;
  const submitted = http.post(`${GATEWAY}/api/v1/transfers`, JSON.stringify({ caseId, recipient: "AGENCY_PROSECUTION", purpose: "TRANSFER_PURPOSE_PROSECUTION_REVIEW" }), { ...json(tokens.legal), tags: { name: "submit" } });
  if (!check(submitted, { "transfer submitted": (r) => r.status === 201 })) return;
  const transferId = submitted.json("transferId");
  const start = Date.now();
  // Until the prosecution has it, it answers 404 (expected while polling).
  const poll = { headers: { authorization: `Bearer ${tokens.prosecutor}` }, tags: { name: "poll received" }, responseCallback: http.expectedStatuses(200, 404) };
  while (Date.now() - start < 30_000) {
    const res = http.get(`${GATEWAY}/api/v1/transfers/${transferId}`, poll);
    if (res.status === 200 && res.json("state") === "TRANSFER_STATE_RECEIVED") {
      received.add(Date.now() - start);
      check(res, { "bundle verified": (r) => r.json("verification.status") === "VERIFICATION_STATUS_VALID" });
      return;
    }
    sleep(0.1);
  }
  lost.add(1);
}
