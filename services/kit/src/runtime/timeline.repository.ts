import type mongoose from "mongoose";
import type { mongo } from "mongoose";
import { transfer as pb } from "@casebridge/proto";
import { bytesOf } from "../mongo";

interface TimelineDocument {
  _id: string;
  caseId: string;
  at: Date;
  pb: Buffer;
}

/** The timeline entries this agency holds: its own steps and the status and progress it was sent. */
export class TimelineRepository {
  private readonly collection: mongo.Collection<TimelineDocument>;

  constructor(connection: mongoose.Connection) {
    this.collection = connection.collection<TimelineDocument>("timeline");
  }

  /** Creates the index the case query uses. */
  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ caseId: 1, at: 1 });
  }

  /** Adds an entry once: a second add of the same entry id changes nothing. */
  async add(entry: pb.TimelineEntry): Promise<void> {
    await this.addMany([entry]);
  }

  /** Adds entries in one write; those already there are left as they are. */
  async addMany(entries: readonly pb.TimelineEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const docs = entries.map((entry) => ({ _id: entry.entryId, caseId: entry.caseId, at: entry.at ?? new Date(0), pb: Buffer.from(pb.TimelineEntry.encode(entry).finish()) }));
    try {
      await this.collection.insertMany(docs, { ordered: false });
    } catch (error) {
      const writeErrors = (error as { writeErrors?: Array<{ code?: number }> | { code?: number } }).writeErrors;
      const codes = Array.isArray(writeErrors) ? writeErrors.map((e) => e.code) : writeErrors ? [writeErrors.code] : [(error as { code?: number }).code];
      if (codes.some((code) => code !== 11000)) throw error;
    }
  }

  /** Drops the view (for a rebuild from the ledger). */
  async drop(): Promise<void> {
    await this.collection.drop().catch(() => undefined);
  }

  /** Every entry of a case, oldest first. */
  async ofCase(caseId: string): Promise<pb.TimelineEntry[]> {
    const docs = await this.collection.find({ caseId }).sort({ at: 1, _id: 1 }).toArray();
    return docs.map((doc) => pb.TimelineEntry.decode(bytesOf(doc.pb)));
  }
}
