import type mongoose from "mongoose";
import type { mongo } from "mongoose";
import { bytesOf } from "../mongo";

/** How many written revisions a view remembers. */
const REMEMBERED = 50_000;

/** One row of a read model: the aggregate's encoded value at a revision, and fields to query and sort on. */
export interface ViewRow {
  readonly id: string;
  readonly revision: number;
  readonly pb: Uint8Array;
  readonly fields: Record<string, unknown>;
}

interface ViewDocument {
  _id: string;
  revision: number;
  pb: Buffer;
  [field: string]: unknown;
}

/**
 * A read model in MongoDB: the newest projected revision of each aggregate of one kind, for lists,
 * filters, search and paging. Written only by the projector; never read to make a decision.
 */
export class ViewCollection {
  private readonly collection: mongo.Collection<ViewDocument>;
  /** Revisions this process wrote, newest use last (a bounded memory of what the view holds). */
  private readonly written = new Map<string, number>();

  constructor(
    private readonly connection: mongoose.Connection,
    readonly name: string,
    private readonly indexes: ReadonlyArray<Record<string, 1 | -1>> = [],
  ) {
    this.collection = connection.collection<ViewDocument>(name);
  }

  /** Creates the indexes the view's queries use. */
  async ensureIndexes(): Promise<void> {
    for (const keys of this.indexes) await this.collection.createIndex(keys);
  }

  /**
   * Stores rows whose revision is newer than the one the view holds. The projector is the single
   * writer, so the revisions it wrote are remembered and no read is needed for them; rows it does
   * not know (after a start, or when `checkAll`: redeliveries) are looked up by `_id` alone (the
   * only filter FerretDB v1 answers without a scan).
   */
  async upsertNewer(rows: readonly ViewRow[], checkAll = false): Promise<void> {
    if (rows.length === 0) return;
    const held = new Map<string, number>();
    await Promise.all(
      rows.map(async (row) => {
        const known = checkAll ? undefined : this.written.get(row.id);
        if (known !== undefined) {
          held.set(row.id, known);
          return;
        }
        const doc = await this.collection.findOne({ _id: row.id }, { projection: { revision: 1 } });
        if (doc) held.set(row.id, doc.revision);
      }),
    );
    const newer = rows.filter((row) => (held.get(row.id) ?? 0) < row.revision);
    if (newer.length === 0) return;
    await this.collection.bulkWrite(
      newer.map((row) => ({
        replaceOne: { filter: { _id: row.id }, replacement: { revision: row.revision, pb: Buffer.from(row.pb), ...row.fields }, upsert: true },
      })),
      { ordered: false },
    );
    for (const row of newer) {
      this.written.delete(row.id);
      this.written.set(row.id, row.revision);
    }
    for (const id of this.written.keys()) {
      if (this.written.size <= REMEMBERED) break;
      this.written.delete(id);
    }
  }

  /** Rows matching `filter`, sorted and limited, with their encoded values. */
  async find(filter: mongo.Filter<ViewDocument>, sort: Record<string, 1 | -1>, limit: number): Promise<Array<{ id: string; pb: Uint8Array; fields: ViewDocument }>> {
    const docs = await this.collection.find(filter).sort(sort).limit(limit).toArray();
    return docs.map((doc) => ({ id: doc._id, pb: bytesOf(doc.pb), fields: doc }));
  }

  /** How many rows match `filter`, up to `limit`. */
  async count(filter: mongo.Filter<ViewDocument>, limit: number): Promise<number> {
    return this.collection.countDocuments(filter, { limit });
  }

  /** Every row, ordered by id, without the MongoDB-only fields (for comparing a view with its rebuild). */
  async dump(): Promise<Array<Record<string, unknown>>> {
    return this.collection.find({}).sort({ _id: 1 }).toArray();
  }

  /** Drops the view (for a rebuild). */
  async drop(): Promise<void> {
    this.written.clear();
    await this.connection.db?.dropCollection(this.name).catch(() => undefined);
  }
}
