import { hash } from "node:crypto";
import type mongoose from "mongoose";
import type { mongo } from "mongoose";

/** One audited action: who did what, when, to which subject, involving which document digests. */
export interface AuditRecord {
  /** Unique per action, so that an action is logged once however often it is relayed. */
  readonly entryId: string;
  readonly at: Date;
  readonly actor: string;
  readonly action: string;
  /** What was acted on, e.g. "transfer:…" or "case:…". */
  readonly subject: string;
  /** SHA-256 (hex) of every document involved. */
  readonly digests: readonly string[];
}

interface AuditDocument extends AuditRecord {
  /** Position in the chain, from 1. */
  _id: number;
  prevHash: string;
  hash: string;
}

/** Outcome of checking the chain. */
export type AuditVerification =
  | { readonly intact: true; readonly entries: number }
  | { readonly intact: false; readonly entries: number; readonly brokenAt: number; readonly reason: string };

const GENESIS = "0".repeat(64);

/** The hash of an entry: SHA-256 over the previous hash and the entry's fields in a fixed order. */
export function auditHash(prevHash: string, seq: number, record: AuditRecord): string {
  const fields = [seq, record.entryId, record.at.toISOString(), record.actor, record.action, record.subject, [...record.digests]];
  return hash("sha256", `${prevHash}\n${JSON.stringify(fields)}`, "hex");
}

/**
 * Append-only audit log, hash-chained: each entry holds the hash of the one before, so an edited,
 * removed or inserted entry breaks every hash after it. Appends from this process are serialized
 * and batched; another process appending at the same time makes the insert fail on the sequence
 * number, after which the tail is read again.
 */
export class AuditLog {
  private readonly collection: mongo.Collection<AuditDocument>;
  private tail: { seq: number; hash: string } | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(connection: mongoose.Connection) {
    this.collection = connection.collection<AuditDocument>("audit");
  }

  /** Creates the unique index that keeps an action from being logged twice. */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ entryId: 1 }, { unique: true });
  }

  /** Appends the records that are not in the log yet, in order. */
  append(records: readonly AuditRecord[]): Promise<void> {
    const run = this.queue.then(() => this.appendNow(records));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async appendNow(records: readonly AuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    // The whole batch in one write when nobody else appended meanwhile; else one by one.
    const tail = this.tail ?? (await this.readTail());
    const batch: AuditDocument[] = [];
    let previous = tail;
    for (const record of records) {
      const seq = previous.seq + 1;
      const entry: AuditDocument = { ...record, digests: [...record.digests], _id: seq, prevHash: previous.hash, hash: auditHash(previous.hash, seq, record) };
      batch.push(entry);
      previous = { seq, hash: entry.hash };
    }
    try {
      await this.collection.insertMany(batch, { ordered: true });
      this.tail = previous;
      return;
    } catch (error) {
      this.tail = undefined;
      const inserted = (error as { insertedCount?: number; result?: { insertedCount?: number } }).insertedCount ?? 0;
      if (inserted === records.length) throw error;
    }
    for (const record of records) await this.appendOne(record);
  }

  private async appendOne(record: AuditRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (await this.collection.findOne({ entryId: record.entryId }, { projection: { _id: 1 } })) return;
      const tail = this.tail ?? (await this.readTail());
      const seq = tail.seq + 1;
      const entry: AuditDocument = { ...record, digests: [...record.digests], _id: seq, prevHash: tail.hash, hash: auditHash(tail.hash, seq, record) };
      try {
        await this.collection.insertOne(entry);
        this.tail = { seq, hash: entry.hash };
        return;
      } catch (error) {
        if ((error as { code?: number }).code !== 11000 || attempt > 20) throw error;
        this.tail = undefined;
      }
    }
  }

  private async readTail(): Promise<{ seq: number; hash: string }> {
    const last = await this.collection.find({}, { projection: { hash: 1 } }).sort({ _id: -1 }).limit(1).next();
    return last ? { seq: last._id, hash: last.hash } : { seq: 0, hash: GENESIS };
  }

  /** Drops the log (for a rebuild from the ledger, which holds every record in commit order). */
  async drop(): Promise<void> {
    this.tail = undefined;
    await this.collection.drop().catch(() => undefined);
  }

  /** Recomputes the whole chain; says where it first breaks. */
  async verify(): Promise<AuditVerification> {
    let prevHash = GENESIS;
    let expected = 1;
    for await (const entry of this.collection.find({}).sort({ _id: 1 })) {
      const broken = (reason: string): AuditVerification => ({ intact: false, entries: expected - 1, brokenAt: entry._id, reason });
      if (entry._id !== expected) return broken(`entry ${expected} is missing`);
      if (entry.prevHash !== prevHash) return broken("it does not follow the entry before it");
      if (auditHash(prevHash, entry._id, entry) !== entry.hash) return broken("its content does not match its hash (edited)");
      prevHash = entry.hash;
      expected++;
    }
    return { intact: true, entries: expected - 1 };
  }
}

/** An audit record as bytes (an outbox item, a ledger entry). */
export function encodeAuditRecord(record: AuditRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

/** An audit record from its bytes. */
export function decodeAuditRecord(data: Buffer): AuditRecord {
  const raw = JSON.parse(data.toString("utf8")) as Omit<AuditRecord, "at"> & { at: string };
  return { ...raw, at: new Date(raw.at) };
}
