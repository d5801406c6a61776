import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { runtime as rpb } from "@casebridge/proto";
import { ConflictError } from "../errors";

/** Something the relay must carry out after an aggregate was stored (an event, a ledger entry, a timer). */
export type OutboxItem = rpb.OutboxItem;

/** An aggregate as stored: its value, its revision (the KV sequence, for compare-and-set) and the events applied to it. */
export interface Stored<T> {
  readonly id: string;
  readonly value: T;
  readonly revision: number;
  readonly applied: readonly string[];
  readonly outbox: readonly OutboxItem[];
}

/** Encoder/decoder of an aggregate (the protobuf message). */
export interface AggregateCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** The result of a decision: the new value and what must follow it, committed together. */
export interface Change<T> {
  readonly value: T;
  readonly outbox: readonly OutboxItem[];
}

/** How many times a write is tried again after losing a compare-and-set before it gives up. */
const MAX_CONFLICT_RETRIES = 25;

/** The key of an aggregate in its agency's bucket: `<kind>.<id>`, the id escaped when it has characters KV keys refuse. */
export function aggregateKey(kind: string, id: string): string {
  return `${kind}.${/^[A-Za-z0-9_-]+$/.test(id) ? id : `=${Buffer.from(id, "utf8").toString("base64url")}`}`;
}

/** The kind and id of an aggregate key (the inverse of aggregateKey). */
export function parseAggregateKey(key: string): { kind: string; id: string } {
  const dot = key.indexOf(".");
  const kind = key.slice(0, dot);
  const token = key.slice(dot + 1);
  return { kind, id: token.startsWith("=") ? Buffer.from(token.slice(1), "base64url").toString("utf8") : token };
}

/** True when a KV write failed because the key's revision was not the expected one (someone wrote first). */
export function isRevisionConflict(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** Encodes an aggregate record (value, outbox, applied events) as stored in the bucket. */
export function encodeRecord(record: rpb.AggregateRecord): Uint8Array {
  return rpb.AggregateRecord.encode(record).finish();
}

/** Decodes a stored aggregate record. */
export function decodeRecord(bytes: Uint8Array): rpb.AggregateRecord {
  return rpb.AggregateRecord.decode(bytes);
}

/**
 * Stores one kind of aggregate in the agency's JetStream key-value bucket, the system of record.
 * Every write is an atomic compare-and-set on the key's revision (`create`, or `update` with the
 * expected revision), with the outbox inside the value: the state change and what must follow it
 * (events, ledger entries, timers) are committed in one write, so a crash can never separate them,
 * and any number of replicas can write at once: a loser reads again and decides again.
 */
export class AggregateStore<T> {
  private readonly changeHooks: Array<(before: T | undefined, after: T) => OutboxItem[]> = [];

  constructor(
    private readonly kv: KV,
    /** The key prefix, e.g. "transfer". */
    readonly kind: string,
    private readonly codec: AggregateCodec<T>,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Adds what another module commits with every change of this kind of aggregate (e.g. the
   * deadline timers a case or a transfer runs under): `derive` sees the value before and after.
   */
  onChange(derive: (before: T | undefined, after: T) => OutboxItem[]): void {
    this.changeHooks.push(derive);
  }

  private derived(before: T | undefined, after: T): OutboxItem[] {
    return this.changeHooks.flatMap((derive) => derive(before, after));
  }

  /** The aggregate with this id, if any. */
  async get(id: string): Promise<Stored<T> | undefined> {
    const entry = await this.kv.get(aggregateKey(this.kind, id));
    if (!entry || entry.operation !== "PUT" || entry.length === 0) return undefined;
    return this.toStored(id, entry.revision, decodeRecord(entry.value));
  }

  /** Stores a new aggregate; false when one with this id exists already. */
  async insert(id: string, change: Change<T>, appliedEventId?: string): Promise<boolean> {
    try {
      const outbox = [...change.outbox, ...this.derived(undefined, change.value)];
      await this.kv.create(aggregateKey(this.kind, id), encodeRecord(this.record(change.value, outbox, appliedEventId ? [appliedEventId] : [])));
      return true;
    } catch (error) {
      if (isRevisionConflict(error)) return false;
      throw error;
    }
  }

  /**
   * Reads, decides and writes back an aggregate with compare-and-set, deciding again on the newest
   * value when another writer got there first. `decide` returns undefined to leave it alone. Returns
   * the stored result, or undefined when absent, already applied or left alone.
   */
  async mutate(id: string, decide: (current: Stored<T>) => Change<T> | undefined, appliedEventId?: string): Promise<Stored<T> | undefined> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const current = await this.get(id);
      if (!current) return undefined;
      if (appliedEventId && current.applied.includes(appliedEventId)) return undefined;
      const change = decide(current);
      if (!change) return undefined;
      const applied = appliedEventId ? [...current.applied, appliedEventId] : [...current.applied];
      const outbox = [...current.outbox, ...change.outbox, ...this.derived(current.value, change.value)];
      try {
        const revision = await this.kv.update(aggregateKey(this.kind, id), encodeRecord(this.record(change.value, outbox, applied)), current.revision);
        return { id, value: change.value, revision, applied, outbox };
      } catch (error) {
        if (!isRevisionConflict(error)) throw error;
      }
    }
    throw new ConflictError(`${this.kind} ${id} was changed by others ${MAX_CONFLICT_RETRIES} times while this change was decided; nothing was changed, try again`);
  }

  /**
   * Removes the carried-out items from an aggregate's outbox, applying `transform` to its value in
   * the same write (e.g. SUBMITTED becomes DELIVERED once the submission is published). `known`,
   * a revision read already, saves a read when it is still the newest.
   */
  async removeDone(id: string, doneIds: readonly string[], transform?: (value: T) => T | undefined, known?: Stored<T>): Promise<void> {
    const done = new Set(doneIds);
    let current = known;
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      current ??= await this.get(id);
      if (!current) return;
      const rest = current.outbox.filter((item) => !done.has(item.id));
      const changed = transform?.(current.value);
      if (rest.length === current.outbox.length && !changed) return;
      try {
        await this.kv.update(aggregateKey(this.kind, id), encodeRecord(this.record(changed ?? current.value, rest, [...current.applied])), current.revision);
        return;
      } catch (error) {
        if (!isRevisionConflict(error)) throw error;
        current = undefined;
      }
    }
    throw new ConflictError(`the outbox of ${this.kind} ${id} kept changing`);
  }

  /** Decodes a record of this store read from elsewhere (the relay, the projector). */
  decode(id: string, revision: number, bytes: Uint8Array): Stored<T> {
    return this.toStored(id, revision, decodeRecord(bytes));
  }

  private record(value: T, outbox: OutboxItem[], applied: string[]): rpb.AggregateRecord {
    return { value: this.codec.encode(value), outbox, applied, updatedAt: this.clock() };
  }

  private toStored(id: string, revision: number, record: rpb.AggregateRecord): Stored<T> {
    return { id, revision, value: this.codec.decode(record.value), applied: record.applied, outbox: record.outbox };
  }
}
