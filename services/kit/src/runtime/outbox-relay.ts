import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { runtime as rpb } from "@casebridge/proto";
import type { EnvelopeSigner } from "../trust/envelope";
import { consumeEvents, ensureConsumer, publishEvent, type DeliveredEvent, type RunningConsumer } from "../jetstream";
import { KeyedLock } from "../keyed-lock";
import { parseAggregateKey, type AggregateStore, type OutboxItem } from "./aggregate-store";
import { auditSubject, ledgerMessageId, timelineSubject } from "./ledger";
import { timerStreamOfSubject } from "./timers";

/** What the relay knows of one kind of aggregate: its store and what changes once a marked item is published. */
export interface RelayedKind {
  readonly store: AggregateStore<unknown>;
  /** The aggregate's new value once an item marked `marks_published` went out (written with the outbox removal). */
  readonly onPublished?: (value: unknown) => unknown;
}

/** How long a timer's fired message stays in the timer stream. */
const FIRED_TTL = "168h"; // a Go duration: no "d" unit

/** How long JetStream waits for the relay's ack before it hands the revision to another instance. */
const RELAY_ACK_WAIT_MS = 10_000;

/**
 * Carries out the outboxes committed in an agency's bucket. A durable consumer on the bucket's own
 * stream delivers every stored revision to one of the service's instances (any number of them);
 * the relay publishes what the revision's outbox holds (events, ledger entries, timers) with the
 * item id as Nats-Msg-Id, so a re-publish after a crash is dropped by the server, then removes the
 * items with a compare-and-set, and only then acks. A crash anywhere means a redelivery, never a
 * lost item; no scan and no in-process state is needed.
 */
export class OutboxRelay {
  private consumer: RunningConsumer | undefined;
  /** Revisions of one aggregate are relayed one after another in this process, so its events keep their order. */
  private readonly order = new KeyedLock();

  constructor(
    private readonly js: JetStreamClient,
    private readonly agency: string,
    private readonly bucket: string,
    private readonly kinds: ReadonlyMap<string, RelayedKind>,
    private readonly logger: Logger,
    private readonly signer: EnvelopeSigner | undefined,
    private readonly concurrency = 64,
  ) {}

  private get durable(): string {
    return `relay-${this.agency}`;
  }

  /** Creates the relay's durable consumer on the bucket's stream (idempotent). */
  async ensure(jsm: JetStreamManager): Promise<void> {
    await ensureConsumer(jsm, `KV_${this.bucket}`, {
      durable_name: this.durable,
      filter_subject: `$KV.${this.bucket}.>`,
      ack_wait: RELAY_ACK_WAIT_MS * 1_000_000,
      max_ack_pending: 4096,
    });
  }

  /** Starts relaying. */
  async start(): Promise<void> {
    this.consumer = await consumeEvents(this.js, `KV_${this.bucket}`, this.durable, (event) => this.relay(event), {
      concurrency: this.concurrency,
      backoffMs: [100, 500, 2000, 5000],
      maxDeliver: 1_000_000, // an outbox is never dropped: it is retried until NATS takes it
      logger: this.logger,
      progressEveryMs: RELAY_ACK_WAIT_MS / 3,
    });
  }

  /** Lets the revisions in progress finish, then stops. */
  async stop(): Promise<void> {
    await this.consumer?.stop();
  }

  private async relay(event: DeliveredEvent): Promise<void> {
    const operation = event.header("KV-Operation");
    if (operation === "DEL" || operation === "PURGE" || event.data.length === 0) return;
    const key = event.subject.slice(`$KV.${this.bucket}.`.length);
    const { kind, id } = parseAggregateKey(key);
    const relayed = this.kinds.get(kind);
    if (!relayed) return;
    const delivered = relayed.store.decode(id, event.streamSequence, event.data);
    if (delivered.outbox.length === 0) return;
    await this.order.run(key, async () => {
      // Usually the delivered revision is the newest; if not, the newest holds every item not
      // carried out yet (this revision's too), and the removal below finds out and reads it.
      await this.publishAll(delivered.outbox);
      const published = delivered.outbox.some((item) => item.marksPublished) ? relayed.onPublished : undefined;
      await relayed.store.removeDone(id, delivered.outbox.map((item) => item.id), published, delivered);
    });
  }

  /** Publishes items to each subject in order; different subjects (streams) at the same time. */
  private async publishAll(items: readonly OutboxItem[]): Promise<void> {
    const bySubject = new Map<string, OutboxItem[]>();
    for (const item of items) {
      const lane = item.kind === rpb.OutboxKind.OUTBOX_KIND_EVENT || item.kind === rpb.OutboxKind.OUTBOX_KIND_TIMER ? `${item.kind}:${item.subject}` : String(item.kind);
      bySubject.set(lane, [...(bySubject.get(lane) ?? []), item]);
    }
    await Promise.all([...bySubject.values()].map(async (lane) => {
      for (const item of lane) await this.carryOut(item);
    }));
  }

  private async carryOut(item: OutboxItem): Promise<void> {
    switch (item.kind) {
      case rpb.OutboxKind.OUTBOX_KIND_EVENT:
        // Every cross-agency event leaves signed: the item holds the EnvelopeContent, the agency's key signs it here.
        if (!this.signer) throw new Error("this runtime has no envelope signer and cannot send events");
        await publishEvent(this.js, item.subject, await this.signer.sign(item.data), item.id);
        return;
      case rpb.OutboxKind.OUTBOX_KIND_TIMELINE:
        await publishEvent(this.js, timelineSubject(this.agency), item.data, ledgerMessageId(this.agency, item.id));
        return;
      case rpb.OutboxKind.OUTBOX_KIND_AUDIT:
        await publishEvent(this.js, auditSubject(this.agency), item.data, item.id);
        return;
      case rpb.OutboxKind.OUTBOX_KIND_TIMER:
        await this.setTimer(item);
        return;
      default:
        this.logger.error({ item: item.id, kind: item.kind }, "outbox item of unknown kind dropped");
    }
  }

  private async setTimer(item: OutboxItem): Promise<void> {
    if (item.cancel) await cancelSchedule(this.js, item.subject);
    else await setSchedule(this.js, item.subject, item.data, item.id, item.fireAt!, item.target);
  }
}

/**
 * Sets (or replaces) the server-side schedule (ADR-51) on `subject`: at `fireAt` the server publishes
 * `data` on `target`, once, across restarts. The new schedule is published first and older ones on
 * the subject purged after, so a retry never leaves the timer unset; `id` deduplicates a retry.
 */
export async function setSchedule(js: JetStreamClient, subject: string, data: Uint8Array, id: string, fireAt: Date, target: string): Promise<void> {
  // The fired message lives a week (per-message TTL): what it causes (an alert) is the record.
  await js.publish(subject, data, { msgID: id, schedule: { specification: fireAt, target, ttl: FIRED_TTL } });
  await (await js.jetstreamManager()).streams.purge(timerStreamOfSubject(subject), { filter: subject, keep: 1 });
}

/** Cancels the schedule on `subject` (nothing fires). */
export async function cancelSchedule(js: JetStreamClient, subject: string): Promise<void> {
  await (await js.jetstreamManager()).streams.purge(timerStreamOfSubject(subject), { filter: subject });
}
