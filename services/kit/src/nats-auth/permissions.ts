/**
 * Who may do what on NATS: one nkey user per agency service, one for the gateway, one for the
 * time-stamp authority and one for the operator's tools, each allowed exactly the subjects, streams,
 * consumers and buckets it needs. This table is the only source: `npm run nats-auth -- render`
 * turns it into charts/casebridge/files/nats-authorization.conf, which the local nats-server (npm
 * start, the tests) and the chart's nats-server both include; a drift check keeps them equal.
 *
 * Why nkey users in one account rather than JWT accounts: the principals are a fixed, small set
 * known at deploy time, every workflow shares the same JetStream streams (cross-account stream
 * sharing would need an export/import per stream and consumer), and subject permissions per user
 * say exactly what each may touch. nkeys never send a secret over the wire (challenge/response),
 * the server stores only public keys, and a key is rotated by changing one public key and
 * reloading the server (SIGHUP). Decentralised JWT auth (operator, accounts, resolver) pays off when
 * tenants are added at run time without touching the server, which is not the case here.
 */
import { timerStream } from "../runtime/timers";
import { CRL_BUCKET } from "../seal/revocation-nats";
import { documentBucket } from "../transfer/document-store";
import { SEAL_AGENCIES, type SealAgency } from "../seal/pki";

/** A NATS user of the platform: an agency service, the gateway, the time-stamp authority or the operator's tools. */
export type NatsPrincipal = SealAgency | "gateway" | "tsa" | "operator";

/** Every principal, in the order the authorization file lists them. */
export const NATS_PRINCIPALS: readonly NatsPrincipal[] = [...SEAL_AGENCIES, "gateway", "tsa", "operator"];

/** `name` as a principal, or undefined when it is none. */
export function natsPrincipalOf(name: string): NatsPrincipal | undefined {
  return (NATS_PRINCIPALS as readonly string[]).includes(name) ? (name as NatsPrincipal) : undefined;
}

/** The JetStream key-value buckets the gateway owns (sessions, back-channel logouts, the shared rate limit). */
export const GATEWAY_BUCKETS = ["cb_gateway_sessions", "cb_gateway_logouts", "cb_gateway_ratelimits"] as const;

/** Streams every agency service uses and may create when missing, but not reconfigure, purge or delete. */
const SHARED_STREAMS = ["CB_TRANSFERS", "CB_LEDGER", "CB_DEAD_LETTERS"] as const;

/** What one user may publish and subscribe to (nats-server's `permissions` block). */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  /** May answer the requests it receives (reply subjects) without a publish permission on them. */
  allowResponses: boolean;
}

/** The reply-subject prefix of a principal: replies to its requests reach only it. */
export function inboxPrefixOf(principal: NatsPrincipal): string {
  return `_INBOX_${principal}`;
}

const api = (...parts: string[]): string => `$JS.API.${parts.join(".")}`;

/** A stream the principal owns: create, reconfigure, read and consume, but neither purge nor delete it. */
function ownedStream(stream: string): string[] {
  return [
    api("STREAM.CREATE", stream),
    api("STREAM.UPDATE", stream),
    api("STREAM.INFO", stream),
    api("STREAM.MSG.GET", stream),
    ...readableStream(stream),
  ];
}

/** A stream the principal may read in full: message gets, and consumers of its own choosing (KV watch, object reads). */
function readableStream(stream: string): string[] {
  return [
    api("STREAM.INFO", stream),
    api("DIRECT.GET", stream),
    api("DIRECT.GET", stream, ">"),
    api("CONSUMER.CREATE", stream),
    api("CONSUMER.*", stream, ">"),
    api("CONSUMER.MSG.NEXT", stream, ">"),
    api("CONSUMER.DURABLE.CREATE", stream, ">"),
    `$JS.ACK.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Direct gets of a key-value bucket's entries by key only (the subject names the key): no listing, no read by sequence, no consumer. */
function readByKey(bucket: string): string {
  return `${api("DIRECT.GET", `KV_${bucket}`)}.$KV.${bucket}.>`;
}

/** A shared stream: created when missing, never reconfigured, purged or read beyond the principal's own durable consumers. */
function sharedStream(stream: string): string[] {
  return [api("STREAM.CREATE", stream), api("STREAM.INFO", stream)];
}

/** One durable pull consumer of `stream` with exactly `filter` (or none): create it, read it, fetch from it, ack. */
function durableConsumer(stream: string, durable: string, filter?: string): string[] {
  return [
    api("CONSUMER.CREATE", stream, durable, ...(filter ? [filter] : [])),
    api("CONSUMER.INFO", stream, durable),
    api("CONSUMER.MSG.NEXT", stream, durable),
    api("CONSUMER.UNPIN", stream, durable),
    `$JS.ACK.${stream}.${durable}.>`,
    // Dead letters of this consumer (jetstream.ts: cb.dlq.<stream>.<consumer>).
    `cb.dlq.${stream}.${durable}`,
  ];
}

/** The permissions of an agency service: its own bucket, audit stream, inbox, timers and RPC subjects, and nothing of another agency's. */
function agencyPermissions(agency: SealAgency): NatsPermissions {
  const bucket = `cb_${agency}`;
  const documents = documentBucket(agency);
  const timers = timerStream(agency);
  return {
    publish: [
      api("INFO"),
      ...ownedStream(`KV_${bucket}`),
      `$KV.${bucket}.>`,
      ...ownedStream(`CB_AUDIT_${agency.toUpperCase()}`),
      // Its timers: replacing or cancelling a schedule purges its subject (runtime/outbox-relay.ts).
      ...ownedStream(timers),
      api("STREAM.PURGE", timers),
      `cb.dlq.${timers}.>`,
      ...SHARED_STREAMS.flatMap(sharedStream),
      // Durable consumers (runtime/outbox-relay.ts, projector.ts, transfer-engine.ts, deadline-alerts.ts).
      ...durableConsumer("CB_LEDGER", `timeline-${agency}`, `cb.ledger.${agency}.timeline`),
      ...durableConsumer("CB_TRANSFERS", `transfer-inbox-${agency}`, `cb.transfer.${agency}.*`),
      `cb.dlq.KV_${bucket}.>`,
      `cb.dlq.CB_AUDIT_${agency.toUpperCase()}.>`,
      // What it publishes: events to any agency, signed as itself (cb.transfer.<to>.<from>), its ledger, audit, timers, change notices.
      `cb.transfer.*.${agency}`,
      `cb.ledger.${agency}.>`,
      `cb.audit.${agency}`,
      `cb.timer.${agency}.set.>`,
      `cb.changes.${agency}`,
      "cb.tsa.request",
      // Revocation lists: read and follow, never write.
      // (a plain subscription hears new lists; no consumer: a push consumer could deliver to any subject, nats-server#8274)
      api("STREAM.CREATE", `KV_${CRL_BUCKET}`),
      api("STREAM.INFO", `KV_${CRL_BUCKET}`),
      readByKey(CRL_BUCKET),
      // Its own document store, which only it writes; another agency's documents it reads by key (the key is in the sealed event).
      ...ownedStream(`KV_${documents}`),
      `$KV.${documents}.>`,
      ...SEAL_AGENCIES.filter((other) => other !== agency).map((other) => readByKey(documentBucket(other))),
    ],
    subscribe: [`${inboxPrefixOf(agency)}.>`, `cb.rpc.${agency}.>`, `$KV.${CRL_BUCKET}.>`],
    allowResponses: true,
  };
}

/** The permissions of `principal`, each subject once. */
export function natsPermissions(principal: NatsPrincipal): NatsPermissions {
  const permissions = permissionsOf(principal);
  return { ...permissions, publish: [...new Set(permissions.publish)], subscribe: [...new Set(permissions.subscribe)] };
}

function permissionsOf(principal: NatsPrincipal): NatsPermissions {
  switch (principal) {
    case "gateway":
      return {
        publish: [api("INFO"), ...GATEWAY_BUCKETS.flatMap((bucket) => [...ownedStream(`KV_${bucket}`), `$KV.${bucket}.>`]), "cb.rpc.>"],
        subscribe: [`${inboxPrefixOf("gateway")}.>`, "cb.changes.*"],
        allowResponses: false,
      };
    case "tsa":
      return { publish: [api("INFO")], subscribe: [`${inboxPrefixOf("tsa")}.>`, "cb.tsa.request"], allowResponses: true };
    case "operator":
      // The operator's tools (seal CLI publish/revoke, audit, rebuild-views, demo seeding, test harnesses): everything.
      return { publish: [">"], subscribe: [">"], allowResponses: true };
    default:
      return agencyPermissions(principal);
  }
}

/** The environment variable holding a principal's public nkey, which the authorization file names. */
export function publicKeyVariable(principal: NatsPrincipal): string {
  return `CB_NKEY_${principal.toUpperCase()}`;
}

/** Renders the nats-server `authorization` block (included by every nats-server of the platform). */
export function renderAuthorizationConf(): string {
  const quote = (subject: string): string => JSON.stringify(subject);
  const list = (subjects: string[]): string => `[\n${subjects.map((subject) => `          ${quote(subject)}`).join(",\n")}\n        ]`;
  const users = NATS_PRINCIPALS.map((principal) => {
    const permissions = natsPermissions(principal);
    return [
      `    # ${principal}`,
      `    {`,
      `      nkey: $${publicKeyVariable(principal)}`,
      `      permissions: {`,
      `        publish: { allow: ${list(permissions.publish)} }`,
      `        subscribe: { allow: ${list(permissions.subscribe)} }`,
      ...(permissions.allowResponses ? [`        allow_responses: true`] : []),
      `      }`,
      `    }`,
    ].join("\n");
  });
  return [
    "# Generated from services/kit/src/nats-auth/permissions.ts by `npm run nats-auth -- render`; do not edit.",
    "# Each user is an nkey whose public key comes from the environment (CB_NKEY_<PRINCIPAL>); no anonymous access.",
    "authorization {",
    "  users: [",
    users.join("\n"),
    "  ]",
    "}",
    "",
  ].join("\n");
}
