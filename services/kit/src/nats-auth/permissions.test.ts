import { readFileSync } from "node:fs";
import { join } from "node:path";
import { auditStream } from "../runtime/ledger";
import { timerStream } from "../runtime/timers";
import { GATEWAY_BUCKETS, NATS_PRINCIPALS, natsPermissions, renderAuthorizationConf, type NatsPermissions } from "./permissions";

/** nats-server's subject matching: `*` one token, `>` one or more trailing tokens. */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
const mayPublish = (permissions: NatsPermissions, subject: string) => permissions.publish.some((pattern) => matches(pattern, subject));
const maySubscribe = (permissions: NatsPermissions, subject: string) => permissions.subscribe.some((pattern) => matches(pattern, subject));

describe("NATS permissions", () => {
  const police = natsPermissions("police");
  const gateway = natsPermissions("gateway");

  it("let an agency consume only its own inbox, publish only as itself, and keep its own records", () => {
    expect(mayPublish(police, "$JS.API.CONSUMER.CREATE.CB_TRANSFERS.transfer-inbox-police.cb.transfer.police.*")).toBe(true);
    expect(mayPublish(police, "$JS.API.CONSUMER.CREATE.CB_TRANSFERS.transfer-inbox-court.cb.transfer.court.*")).toBe(false);
    expect(mayPublish(police, "$JS.API.CONSUMER.CREATE.CB_TRANSFERS.transfer-inbox-police.cb.transfer.court.*")).toBe(false);
    expect(mayPublish(police, "$JS.API.CONSUMER.CREATE.CB_TRANSFERS.snoop")).toBe(false);
    expect(mayPublish(police, "$JS.API.STREAM.MSG.GET.CB_TRANSFERS")).toBe(false);
    expect(mayPublish(police, "$JS.API.DIRECT.GET.CB_TRANSFERS")).toBe(false);
    expect(mayPublish(police, "cb.transfer.prosecution.police")).toBe(true);
    expect(mayPublish(police, "cb.transfer.prosecution.court")).toBe(false);
    expect(mayPublish(police, "$KV.cb_police.transfer.x")).toBe(true);
    expect(mayPublish(police, "$KV.cb_court.transfer.x")).toBe(false);
    expect(mayPublish(police, "$JS.API.DIRECT.GET.KV_cb_court.$KV.cb_court.transfer.x")).toBe(false);
    expect(mayPublish(police, `cb.audit.police`)).toBe(true);
    expect(mayPublish(police, `$JS.API.STREAM.INFO.${auditStream("police")}`)).toBe(true);
    expect(mayPublish(police, `$JS.API.STREAM.PURGE.${timerStream("police")}`)).toBe(true);
    expect(mayPublish(police, `$JS.API.STREAM.PURGE.${timerStream("court")}`)).toBe(false);
    expect(mayPublish(police, "$KV.cb_seal_crls.police")).toBe(false);
    expect(maySubscribe(police, "cb.rpc.police.casebridge.system.v1.SystemService.GetInfo")).toBe(true);
    expect(maySubscribe(police, "cb.rpc.court.casebridge.system.v1.SystemService.GetInfo")).toBe(false);
    expect(maySubscribe(police, "_INBOX.x")).toBe(false);
    expect(maySubscribe(police, "_INBOX_police.x")).toBe(true);
  });

  it("never let anyone destroy a stream or touch the gateway's sessions, except the gateway and the operator", () => {
    for (const principal of NATS_PRINCIPALS.filter((p) => p !== "operator")) {
      const permissions = natsPermissions(principal);
      for (const stream of ["CB_TRANSFERS", "CB_LEDGER", auditStream("police"), "KV_cb_police", "KV_cb_gateway_sessions"]) {
        expect([principal, mayPublish(permissions, `$JS.API.STREAM.DELETE.${stream}`)]).toEqual([principal, false]);
        expect([principal, mayPublish(permissions, `$JS.API.STREAM.PURGE.${stream}`)]).toEqual([principal, false]);
      }
      const reads = mayPublish(permissions, "$JS.API.DIRECT.GET.KV_cb_gateway_sessions.$KV.cb_gateway_sessions.abc");
      expect([principal, reads]).toEqual([principal, principal === "gateway"]);
    }
    for (const bucket of GATEWAY_BUCKETS) expect(mayPublish(gateway, `$KV.${bucket}.k`)).toBe(true);
    expect(maySubscribe(gateway, "cb.transfer.police.court")).toBe(false);
    expect(mayPublish(gateway, "$JS.API.DIRECT.GET.KV_cb_police.$KV.cb_police.x")).toBe(false);
  });

  it("are what the committed authorization file says (npm run nats-auth -- render)", () => {
    const file = readFileSync(join(__dirname, "../../../../charts/casebridge/files/nats-authorization.conf"), "utf8");
    expect(file).toBe(renderAuthorizationConf());
  });
});
