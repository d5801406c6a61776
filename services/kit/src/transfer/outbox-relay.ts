import type { JetStreamClient } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { transfer as pb } from "@casebridge/proto";
import { publishEvent } from "../jetstream";
import type { AggregateStore, OutboxItem } from "./aggregate-store";
import type { AuditLog, AuditRecord } from "./audit-log";
import type { TimelineRepository } from "./timeline.repository";

/** Where outbox items go. */
export interface RelayTargets {
  readonly js: JetStreamClient;
  readonly timeline: TimelineRepository;
  readonly audit: AuditLog;
  /** The aggregate's new value once an item with `marksDelivered` is published (written with the outbox removal). */
  readonly delivered?: (value: unknown) => unknown;
}

const BATCH = 64;

/**
 * Carries out the outboxes of the aggregate stores: publishes events to JetStream (with their id as
 * Nats-Msg-Id, so a re-publish after a crash is dropped by the server), adds timeline entries and
 * appends audit records, then removes the items. Items of one aggregate go in order; aggregates in
 * parallel. It takes the outboxes the stores report written, without a query or a read on the hot
 * path, when kicked; every `scanEveryMs` it also queries for outboxes a crash left behind.
 */
export class OutboxRelay {
  private running = false;
  private kicked = false;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly stores: ReadonlyArray<AggregateStore<unknown>>,
    private readonly targets: RelayTargets,
    private readonly logger: Logger,
    private readonly pollMs = 250,
    /** How often the relay also queries for outboxes it was not told about (left by a crash). */
    private readonly scanEveryMs = 30_000,
  ) {}

  /** Starts relaying. */
  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  /** Asks the relay to look at the outboxes now (after a write). */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Finishes the round in progress and stops. */
  async stop(): Promise<void> {
    this.running = false;
    this.kick();
    await this.loop;
  }

  private async run(): Promise<void> {
    let lastScan = 0;
    while (this.running) {
      this.kicked = false;
      let busy = false;
      let failed = false;
      const scan = Date.now() - lastScan >= this.scanEveryMs;
      if (scan) lastScan = Date.now();
      for (const store of this.stores) {
        try {
          const work = new Map(store.takeDirty().map(({ id, items }) => [id, items]));
          if (scan) for (const id of await store.pending(BATCH)) if (!work.has(id)) work.set(id, undefined);
          busy ||= work.size > 0;
          failed = !(await this.relayRound(store, work)) || failed;
        } catch (error) {
          failed = true;
          this.logger.warn({ err: error, store: store.name }, "outbox relay round failed; retrying");
        }
      }
      if (failed || (!busy && !this.kicked)) await this.idle(failed ? this.pollMs : Math.min(this.pollMs, this.scanEveryMs));
    }
  }

  /**
   * One round over some aggregates of a store: publish their events (in order, per aggregate), write
   * all their timeline entries and audit records in one write each, then remove what went out.
   * Returns false when something has to be tried again.
   */
  private async relayRound(store: AggregateStore<unknown>, work: ReadonlyMap<string, OutboxItem[] | undefined>): Promise<boolean> {
    if (work.size === 0) return true;
    const ids = [...work.keys()];
    const outcomes = await mapBounded(ids, BATCH, async (id) => {
      const items = work.get(id) ?? (await store.outboxOf(id).catch(() => undefined));
      if (!items) return { id, done: [] as OutboxItem[], complete: false };
      const done: OutboxItem[] = [];
      for (const item of items) {
        try {
          if (item.kind === "event") await publishEvent(this.targets.js, item.subject!, item.data, item.id);
        } catch (error) {
          this.logger.warn({ err: error, store: store.name, aggregate: id, item: item.id }, "event not published yet");
          return { id, done, complete: false };
        }
        done.push(item);
      }
      return { id, done, complete: true };
    });
    const all = outcomes.flatMap((outcome) => outcome.done);
    try {
      await this.targets.timeline.addMany(all.filter((item) => item.kind === "timeline").map((item) => pb.TimelineEntry.decode(item.data)));
      await this.targets.audit.append(all.filter((item) => item.kind === "audit").map((item) => decodeAuditRecord(item.data)));
    } catch (error) {
      this.logger.warn({ err: error, store: store.name }, "timeline or audit write failed; retrying");
      ids.forEach((id) => store.markDirty(id));
      return false;
    }
    const removed = await mapBounded(outcomes, BATCH, async ({ id, done, complete }) => {
      if (!complete) store.markDirty(id);
      if (done.length === 0) return complete;
      const delivered = done.some((item) => item.marksDelivered) ? this.targets.delivered : undefined;
      try {
        await store.removeDone(id, done.map((item) => item.id), delivered);
        return complete;
      } catch (error) {
        this.logger.warn({ err: error, store: store.name, aggregate: id }, "outbox not cleared yet");
        store.markDirty(id);
        return false;
      }
    });
    return !removed.includes(false);
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}

/** Maps `items` with at most `limit` promises at a time, keeping order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, map: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await map(items[index]!);
      }
    }),
  );
  return results;
}

/** An audit record as an outbox item's bytes. */
export function encodeAuditRecord(record: AuditRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

function decodeAuditRecord(data: Buffer): AuditRecord {
  const raw = JSON.parse(data.toString("utf8")) as Omit<AuditRecord, "at"> & { at: string };
  return { ...raw, at: new Date(raw.at) };
}
