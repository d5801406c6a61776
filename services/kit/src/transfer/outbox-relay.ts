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
  /** Called after an item with `marksDelivered` was published. */
  readonly onDelivered?: (store: string, aggregateId: string) => Promise<void>;
}

const BATCH = 64;

/**
 * Carries out the outboxes of the aggregate stores: publishes events to JetStream (with their id as
 * Nats-Msg-Id, so a re-publish after a crash is dropped by the server), adds timeline entries and
 * appends audit records, then removes the items. Items of one aggregate go in order; aggregates in
 * parallel. Runs when kicked after a write, and every `pollMs` to pick up what a crash left.
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
    while (this.running) {
      this.kicked = false;
      let busy = false;
      let failed = false;
      for (const store of this.stores) {
        try {
          const pending = await store.pending(BATCH);
          busy ||= pending.length > 0;
          const results = await Promise.all(pending.map(({ id, items }) => this.relayOne(store, id, items)));
          failed ||= results.includes(false);
        } catch (error) {
          failed = true;
          this.logger.warn({ err: error, store: store.name }, "outbox relay round failed; retrying");
        }
      }
      if (failed || (!busy && !this.kicked)) await this.idle(this.pollMs);
    }
  }

  /** Relays one aggregate's items in order; true when all went out. */
  private async relayOne(store: AggregateStore<unknown>, id: string, items: readonly OutboxItem[]): Promise<boolean> {
    const done: string[] = [];
    let marksDelivered = false;
    let ok = true;
    for (const item of items) {
      try {
        await this.deliver(item);
        done.push(item.id);
        marksDelivered ||= item.marksDelivered === true;
      } catch (error) {
        this.logger.warn({ err: error, store: store.name, aggregate: id, item: item.id }, "outbox item not relayed yet");
        ok = false;
        break;
      }
    }
    if (done.length > 0) await store.removeDone(id, done);
    if (marksDelivered) await this.targets.onDelivered?.(store.name, id);
    return ok;
  }

  private async deliver(item: OutboxItem): Promise<void> {
    switch (item.kind) {
      case "event":
        await publishEvent(this.targets.js, item.subject!, item.data, item.id);
        return;
      case "timeline":
        await this.targets.timeline.add(pb.TimelineEntry.decode(item.data));
        return;
      case "audit":
        await this.targets.audit.append([decodeAuditRecord(item.data)]);
        return;
    }
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

/** An audit record as an outbox item's bytes. */
export function encodeAuditRecord(record: AuditRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

function decodeAuditRecord(data: Buffer): AuditRecord {
  const raw = JSON.parse(data.toString("utf8")) as Omit<AuditRecord, "at"> & { at: string };
  return { ...raw, at: new Date(raw.at) };
}
