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

/** An audit record at the position JetStream gave it (the sequence of the agency's audit stream). */
export interface PositionedAuditRecord {
  readonly seq: number;
  readonly record: AuditRecord;
}

/**
 * Append-only audit log, hash-chained: each entry holds the hash of the one before, so an edited,
 * removed or inserted entry breaks every hash after it. The order is the agency's audit stream in
 * JetStream (position = stream sequence), so a log rebuilt from the stream is identical, and an
 * entry that arrives before its predecessor is refused until the predecessor is there.
 */
export class AuditLog {
  private readonly collection: mongo.Collection<AuditDocument>;
  private tail: { seq: number; hash: string } | undefined;

  constructor(connection: mongoose.Connection) {
    this.collection = connection.collection<AuditDocument>("audit");
  }

  /** Creates the unique index that keeps an action from being logged twice. */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ entryId: 1 }, { unique: true });
  }

  /**
   * Appends records in stream order; those at positions the log holds already are skipped (a
   * redelivery). Throws, changing nothing, when a record comes before the one that precedes it.
   */
  async appendInOrder(records: readonly PositionedAuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    let tail = this.tail ?? (await this.readTail());
    const batch: AuditDocument[] = [];
    for (const { seq, record } of [...records].sort((a, b) => a.seq - b.seq)) {
      if (seq <= tail.seq) continue;
      if (seq !== tail.seq + 1) throw new Error(`audit entry ${seq} arrived before entry ${tail.seq + 1}; it will be retried`);
      const entry: AuditDocument = { ...record, digests: [...record.digests], _id: seq, prevHash: tail.hash, hash: auditHash(tail.hash, seq, record) };
      batch.push(entry);
      tail = { seq, hash: entry.hash };
    }
    if (batch.length === 0) return;
    try {
      await this.collection.insertMany(batch, { ordered: true });
      this.tail = tail;
    } catch (error) {
      this.tail = undefined;
      if ((error as { code?: number }).code !== 11000) throw error;
      // A record the stream carries twice (re-published after its dedup window): its second
      // position is kept, as a marker, so that the chain stays contiguous and says what happened.
      await this.appendOneByOne(records);
    }
  }

  private async appendOneByOne(records: readonly PositionedAuditRecord[]): Promise<void> {
    for (const { seq, record } of [...records].sort((a, b) => a.seq - b.seq)) {
      const tail = this.tail ?? (await this.readTail());
      if (seq <= tail.seq) continue;
      if (seq !== tail.seq + 1) throw new Error(`audit entry ${seq} arrived before entry ${tail.seq + 1}; it will be retried`);
      const duplicate = (await this.collection.countDocuments({ entryId: record.entryId }, { limit: 1 })) > 0;
      const stored: AuditRecord = duplicate ? { ...record, entryId: `${record.entryId}#${seq}`, action: `audit.duplicate-of:${record.action}` } : record;
      const entry: AuditDocument = { ...stored, digests: [...stored.digests], _id: seq, prevHash: tail.hash, hash: auditHash(tail.hash, seq, stored) };
      await this.collection.insertOne(entry);
      this.tail = { seq, hash: entry.hash };
    }
  }

  /** The position of the newest entry the log holds (0 when empty). */
  async position(): Promise<number> {
    this.tail ??= await this.readTail();
    return this.tail.seq;
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

  /**
   * Recomputes the whole chain; says where it first breaks. With `recorded` (how many records the
   * agency's audit stream holds), a log missing its newest entries (truncated) is broken too.
   */
  async verify(recorded?: number): Promise<AuditVerification> {
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
    if (recorded !== undefined && expected - 1 < recorded) {
      return { intact: false, entries: expected - 1, brokenAt: expected, reason: `the audit stream holds ${recorded} entries, the log ends at ${expected - 1} (truncated)` };
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
