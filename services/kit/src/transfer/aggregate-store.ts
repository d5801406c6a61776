import type mongoose from "mongoose";
import type { mongo } from "mongoose";

import { KeyedLock } from "../keyed-lock";
import { bytesOf } from "../mongo";

type Collection<T extends mongo.Document> = mongo.Collection<T>;
type Document = mongo.Document;
type Filter<T> = mongo.Filter<T>;

/** Something the relay must carry out after an aggregate was stored: publish an event, add a timeline entry, append to the audit log. */
export interface OutboxItem {
  /** Unique id: the JetStream Nats-Msg-Id of an event, the entry id of a timeline or audit entry. */
  readonly id: string;
  readonly kind: "event" | "timeline" | "audit";
  /** JetStream subject of an event. */
  readonly subject?: string;
  readonly data: Buffer;
  /** Set on a transfer's submission event: once published, the transfer is DELIVERED. */
  readonly marksDelivered?: boolean;
}

/** An aggregate as stored: its value, its version (for optimistic concurrency) and the events applied to it. */
export interface Stored<T> {
  readonly id: string;
  readonly value: T;
  readonly version: number;
  readonly applied: readonly string[];
}

/** Encoder/decoder of an aggregate (the protobuf message). */
export interface AggregateCodec<T> {
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

interface AggregateDocument {
  _id: string;
  pb: Buffer;
  version: number;
  outbox: Array<{ id: string; kind: OutboxItem["kind"]; subject?: string; data: Buffer; marksDelivered?: boolean }>;
  hasOutbox: boolean;
  applied: string[];
  [index: string]: unknown;
}

/** The result of a change: the new value and what the relay must do after it is stored. */
export interface Change<T> {
  readonly value: T;
  readonly outbox: readonly OutboxItem[];
}

const MAX_CONFLICT_RETRIES = 20;

/**
 * Stores one kind of aggregate, one MongoDB document each, with its outbox inside it: the state
 * change and what must follow it are written in one single-document write, so a crash between them
 * is impossible. Concurrent writers are told apart by a version number (MongoDB) and, within the
 * process, by a lock per aggregate (FerretDB v1 does not compare-and-set atomically); `applied`
 * remembers the events applied to the aggregate so that a redelivered event is applied once.
 */
export class AggregateStore<T> {
  private readonly collection: Collection<AggregateDocument>;
  /** Writes of one aggregate go one at a time in this process, on top of the version check. */
  private readonly lock = new KeyedLock();
  /**
   * Aggregates written with outbox items since the relay last looked, with their whole outbox as
   * this process wrote it (writes of an aggregate are serialized here), or undefined when unknown.
   * The relay needs neither a scan nor a read for these.
   */
  private readonly dirty = new Map<string, OutboxItem[] | undefined>();
  private readonly writeListeners: Array<(value: T) => void> = [];

  constructor(
    connection: mongoose.Connection,
    readonly name: string,
    private readonly codec: AggregateCodec<T>,
    /** Fields copied beside the encoded value, to query and sort on. */
    private readonly indexFields: (value: T) => Record<string, unknown>,
    /**
     * Put the version in update filters (compare-and-set across processes). Off on FerretDB v1,
     * where it is not atomic anyway and keeps the update from using the _id lookup (a full scan).
     */
    private readonly versionInFilter = true,
  ) {
    this.collection = connection.collection<AggregateDocument>(name);
  }

  /** Calls `listener` with the new value after every stored change (in this process). */
  onWrite(listener: (value: T) => void): void {
    this.writeListeners.push(listener);
  }

  private written(value: T): void {
    for (const listener of this.writeListeners) listener(value);
  }

  /** Creates the indexes the store and its queries use. */
  async ensureIndexes(extra: Array<Record<string, 1 | -1>> = []): Promise<void> {
    await this.collection.createIndex({ hasOutbox: 1 });
    for (const keys of extra) await this.collection.createIndex(keys);
  }

  /** The aggregate with this id, if any. */
  async get(id: string): Promise<Stored<T> | undefined> {
    const doc = await this.collection.findOne({ _id: id });
    return doc ? this.toStored(doc) : undefined;
  }

  /** Stores a new aggregate; false when one with this id exists already. */
  async insert(id: string, change: Change<T>, appliedEventId?: string): Promise<boolean> {
    try {
      await this.collection.insertOne({
        _id: id,
        pb: Buffer.from(this.codec.encode(change.value)),
        version: 1,
        outbox: change.outbox.map(toDocumentItem),
        hasOutbox: change.outbox.length > 0,
        applied: appliedEventId ? [appliedEventId] : [],
        ...this.indexFields(change.value),
      });
      if (change.outbox.length > 0) this.dirty.set(id, [...change.outbox]);
      this.written(change.value);
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 11000) return false;
      throw error;
    }
  }

  /**
   * Reads, changes and writes back an aggregate, retrying on concurrent writes. `decide` returns
   * undefined to leave it alone. Returns the stored result, or undefined when absent or left alone.
   */
  mutate(id: string, decide: (current: Stored<T>) => Change<T> | undefined, appliedEventId?: string): Promise<Stored<T> | undefined> {
    return this.lock.run(id, () => this.mutateNow(id, decide, appliedEventId));
  }

  private async mutateNow(id: string, decide: (current: Stored<T>) => Change<T> | undefined, appliedEventId?: string): Promise<Stored<T> | undefined> {
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const doc = await this.collection.findOne({ _id: id });
      if (!doc) return undefined;
      const current = this.toStored(doc);
      if (appliedEventId && current.applied.includes(appliedEventId)) return undefined;
      const change = decide(current);
      if (!change) return undefined;
      const result = await this.collection.updateOne(
        this.versionFilter(id, current.version),
        {
          $set: {
            pb: Buffer.from(this.codec.encode(change.value)),
            version: current.version + 1,
            ...(change.outbox.length > 0 ? { hasOutbox: true } : {}),
            ...this.indexFields(change.value),
          },
          ...(change.outbox.length > 0 || appliedEventId
            ? {
                $push: {
                  ...(change.outbox.length > 0 ? { outbox: { $each: change.outbox.map(toDocumentItem) } } : {}),
                  ...(appliedEventId ? { applied: appliedEventId } : {}),
                },
              }
            : {}),
        } as Document,
      );
      if (result.matchedCount === 1) {
        if (change.outbox.length > 0) this.dirty.set(id, [...doc.outbox.map(fromDocumentItem), ...change.outbox]);
        this.written(change.value);
        return { id, value: change.value, version: current.version + 1, applied: current.applied };
      }
    }
    throw new Error(`aggregate ${this.name}/${id} kept changing under ${MAX_CONFLICT_RETRIES} attempts`);
  }

  /** Ids of aggregates that have outbox items, found by a query (after a restart, or as a safety net). */
  async pending(limit: number): Promise<string[]> {
    const docs = await this.collection.find({ hasOutbox: true }, { projection: { _id: 1 } }).limit(limit).toArray();
    return docs.map((doc) => doc._id);
  }

  /** Takes the aggregates written with outbox items since the last call, with their outbox when known. */
  takeDirty(): Array<{ id: string; items: OutboxItem[] | undefined }> {
    const taken = [...this.dirty].map(([id, items]) => ({ id, items }));
    this.dirty.clear();
    return taken;
  }

  /** Puts an id back for the relay to try again (its outbox will be read). */
  markDirty(id: string): void {
    this.dirty.set(id, undefined);
  }

  /** The outbox items of one aggregate, in order. */
  async outboxOf(id: string): Promise<OutboxItem[]> {
    const doc = await this.collection.findOne({ _id: id }, { projection: { outbox: 1 } });
    return (doc?.outbox ?? []).map(fromDocumentItem);
  }

  /** Removes the carried-out items from an aggregate's outbox, and applies `transform` to its value in the same write. */
  removeDone(id: string, doneIds: readonly string[], transform?: (value: T) => T | undefined): Promise<void> {
    return this.lock.run(id, () => this.removeDoneNow(id, doneIds, transform));
  }

  private async removeDoneNow(id: string, doneIds: readonly string[], transform?: (value: T) => T | undefined): Promise<void> {
    const done = new Set(doneIds);
    for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
      const doc = await this.collection.findOne({ _id: id });
      if (!doc) return;
      const rest = doc.outbox.filter((item) => !done.has(item.id));
      const changed = transform?.(this.codec.decode(bytesOf(doc.pb)));
      const set = { outbox: rest, hasOutbox: rest.length > 0, version: doc.version + 1, ...(changed ? { pb: Buffer.from(this.codec.encode(changed)), ...this.indexFields(changed) } : {}) };
      const result = await this.collection.updateOne(this.versionFilter(id, doc.version), { $set: set });
      if (result.matchedCount === 1) {
        const known = this.dirty.get(id);
        if (known) this.dirty.set(id, known.filter((item) => !done.has(item.id)));
        if (changed) this.written(changed);
        return;
      }
    }
    throw new Error(`outbox of ${this.name}/${id} kept changing`);
  }

  private versionFilter(id: string, version: number): Filter<AggregateDocument> {
    return this.versionInFilter ? { _id: id, version } : { _id: id };
  }

  /** Aggregates matching `filter`, sorted and limited, decoded. */
  async find(filter: Filter<AggregateDocument>, sort: Record<string, 1 | -1>, limit: number): Promise<Array<Stored<T> & { index: Record<string, unknown> }>> {
    const docs = await this.collection.find(filter).sort(sort).limit(limit).toArray();
    return docs.map((doc) => ({ ...this.toStored(doc), index: doc }));
  }

  private toStored(doc: AggregateDocument): Stored<T> {
    return { id: doc._id, value: this.codec.decode(bytesOf(doc.pb)), version: doc.version, applied: doc.applied ?? [] };
  }
}

function toDocumentItem(item: OutboxItem): AggregateDocument["outbox"][number] {
  return { id: item.id, kind: item.kind, data: item.data, ...(item.subject ? { subject: item.subject } : {}), ...(item.marksDelivered ? { marksDelivered: true } : {}) };
}

function fromDocumentItem(item: AggregateDocument["outbox"][number]): OutboxItem {
  return { id: item.id, kind: item.kind, subject: item.subject, data: bytesOf(item.data), marksDelivered: item.marksDelivered };
}
