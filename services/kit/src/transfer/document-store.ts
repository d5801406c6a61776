import { hash } from "node:crypto";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { NotFoundError } from "../errors";

/** The JetStream object store bucket that holds large documents beside the events. */
export const DOCUMENT_BUCKET = "cb_documents";

/** The JetStream key-value bucket that holds small objects (seals, manifests, most documents). */
export const BLOB_BUCKET = "cb_blobs";

/** Objects up to this size go to the key-value bucket (one message, read with a direct get). */
const SMALL_OBJECT_BYTES = 512 * 1024;

/**
 * Content-addressed storage of bundle parts: the key of every object is the SHA-256 of its bytes,
 * so a document shared by several transfers is stored once, and a receiver checks what it fetched
 * against the key (and the manifest) before it uses it. Small objects live in a key-value bucket
 * (one message each, read without creating a consumer); larger ones, up to 20 MiB, in an object
 * store bucket, chunked.
 */
export class DocumentStore {
  private constructor(
    private readonly small: KV,
    private readonly large: ObjectStore,
    private readonly jsm: JetStreamManager,
  ) {}

  /** Opens (creating if needed) the buckets. */
  static async open(nc: NatsConnection, replicas = 1): Promise<DocumentStore> {
    const [small, large, jsm] = await Promise.all([
      new Kvm(nc).create(BLOB_BUCKET, { history: 1, maxValueSize: SMALL_OBJECT_BYTES, replicas }),
      new Objm(nc).create(DOCUMENT_BUCKET, { storage: "file", replicas }),
      jetstreamManager(nc),
    ]);
    return new DocumentStore(small, large, jsm);
  }

  /**
   * Fetches several objects at once: the small ones in one batched direct get (nats-server ≥ 2.11),
   * the others one by one. Each is checked against its key; a missing or corrupted one maps to null.
   */
  async getMany(keys: readonly string[]): Promise<Map<string, Buffer | null>> {
    const found = new Map<string, Buffer | null>();
    const small = [...new Set(keys.filter((key) => /^[0-9a-f]{64}$/.test(key)))];
    if (small.length > 0) {
      const prefix = `$KV.${BLOB_BUCKET}.`;
      for await (const message of await this.jsm.direct.getLastMessagesFor(`KV_${BLOB_BUCKET}`, { multi_last: small.map((key) => prefix + key) })) {
        const key = message.subject.slice(prefix.length);
        const buffer = Buffer.from(message.data);
        if (message.data.length > 0) found.set(key, keyOf(buffer) === key ? buffer : null);
      }
    }
    await Promise.all(
      keys
        .filter((key) => !found.has(key))
        .map(async (key) => {
          try {
            found.set(key, await this.get(key));
          } catch (error) {
            if (error instanceof NotFoundError || error instanceof DocumentIntegrityError) found.set(key, null);
            else throw error;
          }
        }),
    );
    return found;
  }

  /** Stores `bytes` unless already there; returns its key. */
  async put(bytes: Uint8Array): Promise<string> {
    const key = keyOf(bytes);
    if (bytes.length <= SMALL_OBJECT_BYTES) {
      await this.small.create(key, bytes).catch((error: unknown) => {
        if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
      });
    } else if (!(await this.large.info(key))) {
      await this.large.putBlob({ name: key }, bytes);
    }
    return key;
  }

  /** Fetches the object under `key`; throws NotFoundError when absent and DocumentIntegrityError when its bytes do not match the key. */
  async get(key: string): Promise<Buffer> {
    const entry = /^[0-9a-f]{64}$/.test(key) ? await this.small.get(key) : null;
    const bytes = entry?.operation === "PUT" ? entry.value : await this.large.getBlob(key);
    if (!bytes) throw new NotFoundError(`object ${key} is not in the document store`);
    const buffer = Buffer.from(bytes);
    if (keyOf(buffer) !== key) throw new DocumentIntegrityError(`object ${key} does not hash to its key`);
    return buffer;
  }
}

/** DocumentIntegrityError says stored bytes do not match their key: corrupted or substituted. */
export class DocumentIntegrityError extends Error {
  override name = "DocumentIntegrityError";
}

/** The store key of some bytes: their SHA-256, lowercase hex. */
export function keyOf(bytes: Uint8Array): string {
  return hash("sha256", bytes, "hex");
}
