// k6 load test: demo users sign in to Keycloak, then read their inbox (or outbox) and the timeline of
// a case in it through the gateway, as the web UI does on each visit.
//   npm run load -- inbox-timeline     (against the platform of `npm start`)
//   GATEWAY_URL=… KEYCLOAK_URL=… VUS=20 DURATION=60s ~/.cache/casebridge/bin/k6 run load-tests/inbox-timeline.js
// The gateway limits each user to RATE_LIMIT_PER_MINUTE requests (default 600); `npm run load` starts
// it with a higher limit so that the figure is the platform's, not the limiter's.
import http from "k6/http";
import { check } from "k6";
import { signIn } from "./lib/sign-in.js";

const GATEWAY = __ENV.GATEWAY_URL || "http://127.0.0.1:8088";
const REALM = `${__ENV.KEYCLOAK_URL || "http://127.0.0.1:8180"}/realms/casebridge`;
// Who reads what: police legal officers their outbox, prosecutors and judges their inbox.
const USERS = [
  { username: "legal.li", box: "BOX_OUTBOX" },
  { username: "officer.wang", box: "BOX_OUTBOX" },
  { username: "prosecutor.zhao", box: "BOX_INBOX" },
  { username: "judge.sun", box: "BOX_INBOX" },
  { username: "clerk.zhou", box: "BOX_INBOX" },
];

export const options = {
  scenarios: {
    readers: { executor: "constant-vus", vus: Number(__ENV.VUS || 20), duration: __ENV.DURATION || "60s" },
  },
  thresholds: {
    http_req_failed: ["rate<0.01"],
    "http_req_duration{name:inbox}": ["p(95)<500"],
    "http_req_duration{name:timeline}": ["p(95)<500"],
  },
};

/** Signs every demo user in once (code flow with PKCE, lib/sign-in.js; the demo password is a dev default): access tokens live 5 minutes. */
export function setup() {
  return USERS.map((user) => ({ ...user, token: signIn(REALM, user.username, __ENV.DEMO_PASSWORD || "demo") }));
}

export default function (users) {
  const user = users[(__VU + __ITER) % users.length];
  const headers = { authorization: `Bearer ${user.token}` };
  const list = http.get(`${GATEWAY}/api/v1/transfers?box=${user.box}&pageSize=20`, { headers, tags: { name: "inbox" } });
  check(list, { "inbox 200": (r) => r.status === 200 });
  const transfers = list.status === 200 ? list.json("transfers") || [] : [];
  if (transfers.length === 0) return;
  const caseId = transfers[__ITER % transfers.length].case.caseId;
  const timeline = http.get(`${GATEWAY}/api/v1/cases/${encodeURIComponent(caseId)}/timeline`, { headers, tags: { name: "timeline" } });
  check(timeline, { "timeline 200": (r) => r.status === 200, "timeline has entries": (r) => r.status === 200 && r.json("entries").length > 0 });
}
