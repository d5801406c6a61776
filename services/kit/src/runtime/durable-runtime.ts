import { jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type mongoose from "mongoose";
import type { Logger } from "pino";
import { DEAD_LETTER_STREAM, ensureStream } from "../jetstream";
import { AggregateStore, type AggregateCodec } from "./aggregate-store";
import { AuditLog } from "./audit-log";
import { auditStream, auditSubject, LEDGER_STREAM } from "./ledger";
import { OutboxRelay, type RelayedKind } from "./outbox-relay";
import { Projector, type AggregateProjection } from "./projector";
import { ensureTimerStream } from "./timers";
import { TimelineRepository } from "./timeline.repository";
import { ViewCollection } from "./view-collection";
import type { EnvelopeSigner } from "../trust/envelope";

/** What the runtime of one agency service needs. */
export interface RuntimeDeps {
  /** The agency's short name (police, prosecution, …): bucket, subjects and consumers are named after it. */
  readonly agency: string;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly mongo: mongoose.Connection;
  readonly logger: Logger;
  readonly clock?: () => Date;
  /** Replicas of the bucket and streams it creates (default 1). */
  readonly replicas?: number;
  /** Signs every cross-agency event the relay publishes (absent only in tools that never relay). */
  readonly envelopes?: EnvelopeSigner;
}

/** Revisions of each aggregate JetStream keeps (the newest holds everything; older ones help operators look back). */
const BUCKET_HISTORY = 8;

/** The key-value bucket that is an agency's system of record. */
export function aggregateBucket(agency: string): string {
  return `cb_${agency}`;
}

/**
 * The shared durable runtime of an agency service, on which every workflow is a module: the
 * aggregate stores in the agency's JetStream bucket (compare-and-set writes with their outbox), the
 * relay that carries outboxes out, the projector into MongoDB read models (views, timeline, audit
 * log), and the ledger and timer streams. Workflows register their stores and views, then `start`.
 */
export class DurableRuntime {
  readonly timeline: TimelineRepository;
  readonly audit: AuditLog;
  readonly projector: Projector;
  private readonly kinds = new Map<string, RelayedKind>();
  private readonly projections: Array<AggregateProjection<unknown>> = [];
  private readonly relay: OutboxRelay;
  private started = false;

  private constructor(
    readonly deps: RuntimeDeps,
    readonly kv: KV,
    readonly jsm: JetStreamManager,
  ) {
    this.timeline = new TimelineRepository(deps.mongo);
    this.audit = new AuditLog(deps.mongo);
    this.relay = new OutboxRelay(deps.js, deps.agency, aggregateBucket(deps.agency), this.kinds, deps.logger.child({ component: "outbox-relay" }), deps.envelopes);
    this.projector = new Projector(
      deps.js,
      { agency: deps.agency, bucket: aggregateBucket(deps.agency), projections: this.projections, timeline: this.timeline, audit: this.audit },
      deps.logger.child({ component: "projector" }),
    );
  }

  /** Opens (creating when missing) the agency's bucket and the shared ledger and timer streams. */
  static async open(deps: RuntimeDeps): Promise<DurableRuntime> {
    const jsm = await jetstreamManager(deps.nc);
    const num_replicas = deps.replicas ?? 1;
    const kv = await new Kvm(deps.js).create(aggregateBucket(deps.agency), { history: BUCKET_HISTORY, storage: "file", replicas: num_replicas });
    await ensureStream(jsm, { name: LEDGER_STREAM, subjects: ["cb.ledger.>"], duplicate_window: 5 * 60 * 1_000_000_000, num_replicas });
    // A long dedup window: an audit record re-published by a relay that was down for a while is still dropped.
    await ensureStream(jsm, { name: auditStream(deps.agency), subjects: [auditSubject(deps.agency)], duplicate_window: 60 * 60 * 1_000_000_000, num_replicas });
    await ensureTimerStream(jsm, deps.agency, num_replicas);
    // Where consumers put what they gave up on (without it a poison message would be retried for ever).
    await ensureStream(jsm, { name: DEAD_LETTER_STREAM, subjects: ["cb.dlq.>"], max_age: 30 * 24 * 3600 * 1_000_000_000, num_replicas });
    return new DurableRuntime(deps, kv, jsm);
  }

  /** A store for one kind of aggregate; `onPublished` changes its value once a marked outbox item went out. */
  store<T>(kind: string, codec: AggregateCodec<T>, onPublished?: (value: T) => T | undefined): AggregateStore<T> {
    if (this.kinds.has(kind)) throw new Error(`aggregate kind ${kind} is registered twice`);
    const store = new AggregateStore<T>(this.kv, kind, codec, this.deps.clock);
    this.kinds.set(kind, { store: store as unknown as AggregateStore<unknown>, onPublished: onPublished as RelayedKind["onPublished"] });
    return store;
  }

  /** A MongoDB read model of one kind of aggregate, kept by the projector. */
  view<T>(projection: Omit<AggregateProjection<T>, "view"> & { indexes?: ReadonlyArray<Record<string, 1 | -1>> }): ViewCollection {
    const view = new ViewCollection(this.deps.mongo, `${projection.kind}_view`, projection.indexes ?? []);
    this.projections.push({ ...projection, view });
    return view;
  }

  /** Creates the consumers and indexes, then starts the relay and the projector. */
  async start(): Promise<void> {
    await this.relay.ensure(this.jsm);
    await this.projector.ensure(this.jsm);
    await this.relay.start();
    await this.projector.start();
    this.started = true;
  }

  /** Stops the relay and the projector after the work in progress. */
  async stop(): Promise<void> {
    if (!this.started) return;
    await this.relay.stop();
    await this.projector.stop();
  }
}
