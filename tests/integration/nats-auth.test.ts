import { randomBytes, randomUUID } from "node:crypto";
import path from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, nkeyAuthenticator, nkeys, type NatsConnection } from "@nats-io/transport-node";
import { DocumentStore, natsAuthOptions, type NatsPrincipal } from "@casebridge/kit";
import { NatsSessionStore } from "../../gateway/src/auth/nats-session-store";
import { SessionCipher, sessionKey } from "../../gateway/src/auth/session-cipher";
import { loadGatewayConfig } from "../../gateway/src/config";
import { SESSION_IDLE_MS } from "../../gateway/src/gateway";
import { asOperator, infra, natsEnv } from "./support";

/** nats-server itself refuses what a NATS user's permissions do not allow (charts/casebridge/files/nats-authorization.conf). */
describe("NATS users and permissions, enforced by nats-server", () => {
  const open: NatsConnection[] = [];
  const as = async (principal: NatsPrincipal): Promise<NatsConnection> => {
    const nc = await connect({ ...natsAuthOptions(principal, path.join(infra.natsCredentialsDir, `${principal}.nk`)), servers: infra.natsUrl, reconnect: false });
    open.push(nc);
    return nc;
  };
  /** Resolves with the error that ends a subscription nats-server refused (or "delivered" if a message got through). */
  const subscriptionOutcome = async (nc: NatsConnection, subject: string): Promise<string> => {
    const sub = nc.subscribe(subject, { max: 1 });
    const outcome = (async () => {
      try {
        for await (const _ of sub) return "delivered";
        return "closed";
      } catch (error) {
        return (error as Error).message;
      }
    })();
    await nc.flush();
    return outcome;
  };
  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close()));
  });

  it("refuses a client without credentials and one with a key it does not know", async () => {
    await expect(connect({ servers: infra.natsUrl, reconnect: false })).rejects.toThrow(/Authorization Violation/);
    const stranger = nkeys.createUser().getSeed();
    await expect(connect({ servers: infra.natsUrl, reconnect: false, authenticator: nkeyAuthenticator(stranger) })).rejects.toThrow(/Authorization Violation/);
  });

  it("lets the police service publish only as itself and consume only its own inbox", async () => {
    const operator = await connect({ ...asOperator(), servers: infra.natsUrl });
    open.push(operator);
    const ojsm = await jetstreamManager(operator);
    await ojsm.streams.add({ name: "CB_TRANSFERS", subjects: ["cb.transfer.>"] }).catch(() => undefined);
    const police = await as("police");
    const js = jetstream(police);
    // Positive control: its own outgoing subject is accepted and stored.
    await expect(js.publish("cb.transfer.prosecution.police", new Uint8Array([1]))).resolves.toMatchObject({ stream: "CB_TRANSFERS" });
    // As the court, no: the server refuses the publish and stores nothing.
    const before = (await ojsm.streams.info("CB_TRANSFERS")).state.messages;
    await expect(js.publish("cb.transfer.prosecution.court", new Uint8Array([1]), { timeout: 3000 })).rejects.toThrow(/Permissions Violation for Publish to "cb.transfer.prosecution.court"/);
    expect((await ojsm.streams.info("CB_TRANSFERS")).state.messages).toBe(before);
    // Another agency's inbox: neither a consumer of it, nor the stream's messages, nor its core subjects.
    const pjsm = await jetstreamManager(police);
    await expect(pjsm.consumers.add("CB_TRANSFERS", { durable_name: "transfer-inbox-police", filter_subject: "cb.transfer.prosecution.*" })).rejects.toThrow(/Permissions Violation/);
    await expect(pjsm.consumers.add("CB_TRANSFERS", { durable_name: "snoop", filter_subject: "cb.transfer.>" })).rejects.toThrow(/Permissions Violation/);
    await expect(pjsm.streams.getMessage("CB_TRANSFERS", { seq: 1 })).rejects.toThrow(/Permissions Violation/);
    await expect(pjsm.streams.purge("CB_TRANSFERS")).rejects.toThrow(/Permissions Violation/);
    await expect(subscriptionOutcome(police, "cb.transfer.>")).resolves.toMatch(/Permissions Violation for Subscription to "cb.transfer.>"/);
    await expect(subscriptionOutcome(await as("police"), "cb.rpc.court.>")).resolves.toMatch(/Permissions Violation for Subscription/);
  });

  it("keeps the gateway's session bucket to the gateway, and each agency's records to that agency", async () => {
    const gateway = await as("gateway");
    // The bucket as the gateway makes it (a bucket made otherwise would break the gateways of later tests).
    const config = loadGatewayConfig(natsEnv(infra.natsUrl));
    await NatsSessionStore.open(gateway, SESSION_IDLE_MS, new SessionCipher(sessionKey(config.sessionEncryptionKey)));
    await expect((await jetstreamManager(gateway)).streams.info("KV_cb_gateway_sessions")).resolves.toBeTruthy();
    for (const principal of ["police", "prosecution", "court", "judicial", "notary", "tsa"] as const) {
      const jsm = await jetstreamManager(await as(principal));
      await expect(jsm.streams.info("KV_cb_gateway_sessions")).rejects.toThrow(/Permissions Violation/);
      await expect(jsm.direct.getMessage("KV_cb_gateway_sessions", { last_by_subj: "$KV.cb_gateway_sessions.any" })).rejects.toThrow(/Permissions Violation/);
    }
    const police = await jetstreamManager(await as("police"));
    await expect(police.direct.getMessage("KV_cb_prosecution", { last_by_subj: "$KV.cb_prosecution.transfer.x" })).rejects.toThrow(/Permissions Violation/);
    await expect(subscriptionOutcome(gateway, "cb.transfer.police.court")).resolves.toMatch(/Permissions Violation/);
  });

  it("keeps each agency's documents writable by that agency only, readable by others only by key, and lets no agency make a consumer on another's store or the revocation lists", async () => {
    const prosecution = await DocumentStore.open(await as("prosecution"), "prosecution");
    const police = await as("police");
    const asPolice = await DocumentStore.open(police, "police");
    // A large object (chunked) and a small one, stored by the prosecution, read by the police with their keys.
    const large = randomBytes(700 * 1024);
    const small = Buffer.from(`indictment ${randomUUID()}`);
    const [largeKey, smallKey] = [await prosecution.put(large), await prosecution.put(small)];
    expect((await asPolice.get(largeKey, "prosecution")).equals(large)).toBe(true);
    expect((await asPolice.get(smallKey, "prosecution")).equals(small)).toBe(true);
    // Not found in its own store, and nowhere when no holder is named.
    await expect(asPolice.get(smallKey)).rejects.toThrow(/not in the document store/);
    // The police may neither overwrite nor delete the prosecution's objects, list them, read them by sequence, nor follow them with a consumer.
    const js = jetstream(police);
    await expect(js.publish(`$KV.cb_blobs_prosecution.${smallKey}`, Buffer.from("forged"), { timeout: 3000 })).rejects.toThrow(/Permissions Violation/);
    const pjsm = await jetstreamManager(police);
    await expect(pjsm.streams.purge("KV_cb_blobs_prosecution", { filter: `$KV.cb_blobs_prosecution.${smallKey}` })).rejects.toThrow(/Permissions Violation/);
    await expect(pjsm.streams.info("KV_cb_blobs_prosecution")).rejects.toThrow(/Permissions Violation/);
    await expect(pjsm.direct.getMessage("KV_cb_blobs_prosecution", { seq: 1 })).rejects.toThrow(/Permissions Violation/);
    await expect(pjsm.consumers.add("KV_cb_blobs_prosecution", { deliver_subject: "cb.rpc.court.x", filter_subject: ">" })).rejects.toThrow(/Permissions Violation/);
    await expect(pjsm.consumers.add("KV_cb_seal_crls", { deliver_subject: "cb.rpc.court.x", filter_subject: ">" })).rejects.toThrow(/Permissions Violation/);
    // A wildcard direct get hands out the bucket's newest entry: encrypted under its own digest, which only the parties know.
    const newest = await police.request("$JS.API.DIRECT.GET.KV_cb_blobs_prosecution.$KV.cb_blobs_prosecution.>", new Uint8Array(0), { timeout: 3000 });
    expect(newest.data.length).toBeGreaterThan(0);
    expect(Buffer.from(newest.data).includes(small)).toBe(false);
    expect(Buffer.from(newest.data).includes(Buffer.from("indictment"))).toBe(false);
    // Still the prosecution's bytes.
    expect((await prosecution.get(smallKey)).equals(small)).toBe(true);
  });
});
