import { hash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { NotFoundError } from "../errors";

/** The JetStream object store bucket that holds documents, seals and manifests beside the events. */
export const DOCUMENT_BUCKET = "cb_documents";

/**
 * Content-addressed storage of bundle parts: the key of every object is the SHA-256 of its bytes,
 * so a document shared by several transfers is stored once, and a receiver checks what it fetched
 * against the key (and the manifest) before it uses it.
 */
export class DocumentStore {
  private constructor(private readonly bucket: ObjectStore) {}

  /** Opens (creating if needed) the document bucket. */
  static async open(nc: NatsConnection): Promise<DocumentStore> {
    return new DocumentStore(await new Objm(nc).create(DOCUMENT_BUCKET, { storage: "file" }));
  }

  /** Stores `bytes` unless already there; returns its key. */
  async put(bytes: Uint8Array): Promise<string> {
    const key = keyOf(bytes);
    if (!(await this.bucket.info(key))) await this.bucket.putBlob({ name: key }, bytes);
    return key;
  }

  /** Fetches the object under `key`; throws NotFoundError when absent and an Error when its bytes do not match the key. */
  async get(key: string): Promise<Buffer> {
    const bytes = await this.bucket.getBlob(key);
    if (!bytes) throw new NotFoundError(`object ${key} is not in the document store`);
    const buffer = Buffer.from(bytes);
    if (keyOf(buffer) !== key) throw new Error(`object ${key} does not hash to its key`);
    return buffer;
  }
}

/** The store key of some bytes: their SHA-256, lowercase hex. */
export function keyOf(bytes: Uint8Array): string {
  return hash("sha256", bytes, "hex");
}
