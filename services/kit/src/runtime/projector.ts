import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { transfer as pb } from "@casebridge/proto";
import { ensureConsumer } from "../jetstream";
import { decodeRecord, parseAggregateKey, type AggregateCodec } from "./aggregate-store";
import { decodeAuditRecord, type AuditLog } from "./audit-log";
import { auditStream, auditSubject, LEDGER_STREAM, timelineSubject } from "./ledger";
import type { TimelineRepository } from "./timeline.repository";
import type { ViewCollection, ViewRow } from "./view-collection";

/** How one kind of aggregate is projected into its read model. */
export interface AggregateProjection<T> {
  readonly kind: string;
  readonly codec: AggregateCodec<T>;
  readonly view: ViewCollection;
  /** The fields the view queries and sorts on. */
  fields(value: T): Record<string, unknown>;
  /** Called once the view holds a new value (change notices for live views). */
  changed?(value: T): void;
}

/** Where an agency's projector reads and writes. */
export interface ProjectorSources {
  readonly agency: string;
  /** The agency's aggregate bucket (its stream is KV_<bucket>). */
  readonly bucket: string;
  readonly projections: ReadonlyArray<AggregateProjection<unknown>>;
  readonly timeline: TimelineRepository;
  readonly audit: AuditLog;
}

/** Messages taken from the stream at most per batch. */
const BATCH = 512;
/** How long the server waits for the projector's ack (kept alive while a batch waits or is written). */
const ACK_WAIT_MS = 30_000;
/** A pinned projector that stops pulling for this long is replaced by another instance's. */
const PIN_TIMEOUT_MS = 5_000;
const PRIORITY_GROUP = "views";

/**
 * Projects an agency's JetStream history into its MongoDB read models: aggregate views (the newest
 * revision of each aggregate, from the bucket's stream) and the timeline and audit log (from the
 * ledger, in commit order). One instance of the service projects at a time (a pinned priority
 * group: another takes over within seconds when it dies); writes are idempotent (revision checks,
 * entry ids), so a redelivery changes nothing. `rebuild` replays everything into empty views.
 */
export class Projector {
  private readonly running: Array<{ stop(): Promise<void> }> = [];

  constructor(
    private readonly js: JetStreamClient,
    private readonly sources: ProjectorSources,
    private readonly logger: Logger,
  ) {}

  private get names(): { timeline: string; audit: string } {
    return { timeline: `timeline-${this.sources.agency}`, audit: `audit-${this.sources.agency}` };
  }

  /** One consumer per kind of aggregate, so that one view (deadline alerts) never waits behind another's backlog. */
  private viewConsumer(kind: string): { durable: string; filter: string } {
    return { durable: `views-${this.sources.agency}-${kind}`, filter: `$KV.${this.sources.bucket}.${kind}.>` };
  }

  /** Creates the projector's durable consumers and the views' indexes (idempotent). */
  async ensure(jsm: JetStreamManager): Promise<void> {
    const pinned = { priority_policy: "pinned_client" as const, priority_groups: [PRIORITY_GROUP], priority_timeout: PIN_TIMEOUT_MS * 1_000_000, max_ack_pending: BATCH * 2, ack_wait: ACK_WAIT_MS * 1_000_000 };
    for (const projection of this.sources.projections) {
      const { durable, filter } = this.viewConsumer(projection.kind);
      await ensureConsumer(jsm, `KV_${this.sources.bucket}`, { durable_name: durable, filter_subject: filter, deliver_policy: DeliverPolicy.LastPerSubject, ...pinned });
    }
    // The single consumer of all kinds that earlier versions used.
    await jsm.consumers.delete(`KV_${this.sources.bucket}`, `views-${this.sources.agency}`).catch(() => undefined);
    await ensureConsumer(jsm, LEDGER_STREAM, { durable_name: this.names.timeline, filter_subject: timelineSubject(this.sources.agency), deliver_policy: DeliverPolicy.All, ...pinned });
    await ensureConsumer(jsm, auditStream(this.sources.agency), { durable_name: this.names.audit, deliver_policy: DeliverPolicy.All, ...pinned });
    await Promise.all([...this.sources.projections.map((p) => p.view.ensureIndexes()), this.sources.timeline.ensureIndexes(), this.sources.audit.ensureIndexes()]);
  }

  /** Starts projecting new history as it is committed. */
  async start(): Promise<void> {
    for (const projection of this.sources.projections) {
      this.running.push(await this.follow(`KV_${this.sources.bucket}`, this.viewConsumer(projection.kind).durable, (batch) => this.projectAggregates(batch)));
    }
    this.running.push(await this.follow(LEDGER_STREAM, this.names.timeline, (batch) => this.projectTimeline(batch)));
    this.running.push(await this.follow(auditStream(this.sources.agency), this.names.audit, (batch) => this.projectAudit(batch)));
  }

  /** Finishes the batch in progress and stops. */
  async stop(): Promise<void> {
    await Promise.all(this.running.splice(0).map((r) => r.stop()));
  }

  /**
   * Drops the views and replays the whole history into them; returns how many messages it read.
   * Run it with the service's projector idle or stopped (the service then carries on: what it
   * projects again is ignored).
   */
  async rebuild(progress?: (replayed: number) => void): Promise<number> {
    await Promise.all([...this.sources.projections.map((p) => p.view.drop()), this.sources.timeline.drop(), this.sources.audit.drop()]);
    await Promise.all([...this.sources.projections.map((p) => p.view.ensureIndexes()), this.sources.timeline.ensureIndexes(), this.sources.audit.ensureIndexes()]);
    let replayed = 0;
    const counted = (project: (batch: JsMsg[]) => Promise<void>) => async (batch: JsMsg[]) => {
      await project(batch);
      replayed += batch.length;
      if (replayed % (BATCH * 8) < batch.length) progress?.(replayed);
    };
    for (const projection of this.sources.projections) {
      await this.replay(`KV_${this.sources.bucket}`, this.viewConsumer(projection.kind).filter, DeliverPolicy.LastPerSubject, counted((batch) => this.projectAggregates(batch)));
    }
    await this.replay(LEDGER_STREAM, timelineSubject(this.sources.agency), DeliverPolicy.All, counted((batch) => this.projectTimeline(batch)));
    await this.replay(auditStream(this.sources.agency), auditSubject(this.sources.agency), DeliverPolicy.All, counted((batch) => this.projectAudit(batch)));
    return replayed;
  }

  private async replay(stream: string, filter: string, policy: DeliverPolicy, project: (batch: JsMsg[]) => Promise<void>): Promise<void> {
    const consumer = await this.js.consumers.get(stream, { filter_subjects: [filter], deliver_policy: policy });
    for (;;) {
      const batch: JsMsg[] = [];
      for await (const m of await consumer.fetch({ max_messages: BATCH, expires: 2000 })) {
        batch.push(m);
        if (m.info.pending === 0) break;
      }
      if (batch.length === 0) break;
      await project(batch);
      if (batch.at(-1)!.info.pending === 0) break;
    }
    await consumer.delete().catch(() => undefined);
  }

  /** Consumes a pinned durable consumer in batches: everything that arrived while the last batch was written goes in the next one. */
  private async follow(stream: string, durable: string, project: (batch: JsMsg[]) => Promise<void>): Promise<{ stop(): Promise<void> }> {
    const consumer = await this.js.consumers.get(stream, durable);
    const messages = await consumer.consume({ max_messages: BATCH, group: PRIORITY_GROUP });
    const queue: JsMsg[] = [];
    let inProgress: JsMsg[] = [];
    let wake: (() => void) | undefined;
    let open = true;
    // Messages waiting or being written stay ours: a slow read store must not make them redeliver.
    const heartbeat = setInterval(() => {
      for (const m of [...inProgress, ...queue]) m.working();
    }, ACK_WAIT_MS / 3);
    const reader = (async () => {
      for await (const m of messages) {
        queue.push(m);
        wake?.();
      }
      open = false;
      wake?.();
    })();
    const writer = (async () => {
      while (open || queue.length > 0) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        const batch = queue.splice(0, BATCH);
        inProgress = batch;
        try {
          await project(batch);
          for (const m of batch) m.ack();
        } catch (error) {
          this.logger.warn({ err: error, stream, consumer: durable, messages: batch.length }, "projection failed; will retry");
          for (const m of batch) m.nak(1000);
        } finally {
          inProgress = [];
        }
      }
      clearInterval(heartbeat);
    })();
    return {
      stop: async () => {
        await messages.close();
        await reader;
        await writer;
        // Hand the pin over at once rather than after the pin time-out (another instance may be waiting).
        await (await this.js.jetstreamManager()).consumers.unpin(stream, durable, PRIORITY_GROUP).catch(() => undefined);
      },
    };
  }

  private async projectAggregates(batch: readonly JsMsg[]): Promise<void> {
    const newest = new Map<string, { kind: string; id: string; revision: number; data: Uint8Array }>();
    // A redelivered revision may be older than what another instance projected meanwhile: check them all.
    const checkAll = batch.some((m) => m.info.redelivered);
    for (const m of batch) {
      const operation = m.headers?.get("KV-Operation");
      if (operation === "DEL" || operation === "PURGE" || m.data.length === 0) continue;
      const key = m.subject.slice(`$KV.${this.sources.bucket}.`.length);
      const { kind, id } = parseAggregateKey(key);
      newest.set(key, { kind, id, revision: m.seq, data: m.data });
    }
    const changed: Array<() => void> = [];
    for (const projection of this.sources.projections) {
      const rows: ViewRow[] = [];
      for (const item of newest.values()) {
        if (item.kind !== projection.kind) continue;
        const record = decodeRecord(item.data);
        const value = projection.codec.decode(record.value);
        rows.push({ id: item.id, revision: item.revision, pb: record.value, fields: projection.fields(value) });
        if (projection.changed) changed.push(() => projection.changed!(value));
      }
      await projection.view.upsertNewer(rows, checkAll);
    }
    for (const notify of changed) notify();
  }

  private async projectTimeline(batch: readonly JsMsg[]): Promise<void> {
    await this.sources.timeline.addMany(batch.map((m) => pb.TimelineEntry.decode(m.data)));
  }

  /**
   * Appends audit records in stream order. When the batch starts past the log's end (a new or
   * restored database, or records redelivered out of order), the missing ones are read from the
   * stream first: the log never waits for a redelivery that may not come.
   */
  private async projectAudit(batch: readonly JsMsg[]): Promise<void> {
    const records = batch.map((m) => ({ seq: m.seq, record: decodeAuditRecord(Buffer.from(m.data)) })).sort((a, b) => a.seq - b.seq);
    const first = records[0]?.seq ?? 0;
    const held = await this.sources.audit.position();
    if (first > held + 1) await this.backfillAudit(held + 1, first - 1);
    await this.sources.audit.appendInOrder(records);
  }

  private async backfillAudit(from: number, to: number): Promise<void> {
    const consumer = await this.js.consumers.get(auditStream(this.sources.agency), { filter_subjects: [auditSubject(this.sources.agency)], deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
    try {
      let next = from;
      while (next <= to) {
        const missing: Array<{ seq: number; record: ReturnType<typeof decodeAuditRecord> }> = [];
        for await (const m of await consumer.fetch({ max_messages: Math.min(BATCH, to - next + 1), expires: 2000 })) {
          if (m.seq <= to) missing.push({ seq: m.seq, record: decodeAuditRecord(Buffer.from(m.data)) });
          next = m.seq + 1;
          if (m.seq >= to) break;
        }
        if (missing.length === 0) throw new Error(`audit records ${from}..${to} are not in the stream any more; rebuild the views (npm run rebuild-views)`);
        await this.sources.audit.appendInOrder(missing);
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }
}
