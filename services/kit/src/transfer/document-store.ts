import { createCipheriv, createDecipheriv, hash } from "node:crypto";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { NotFoundError } from "../errors";
import type { SealAgency } from "../seal/pki";

/** The key-value bucket of an agency's documents, seals, manifests and receipts: only that agency writes it. */
export function documentBucket(agency: SealAgency): string {
  return `cb_blobs_${agency}`;
}

/** Objects up to this size are one entry; larger ones are cut into chunks of this size. */
const CHUNK_BYTES = 256 * 1024;
/** The largest message of a document bucket: a chunk with its headers, well within. */
const MAX_ENTRY_BYTES = 2 * CHUNK_BYTES;
/** How many chunk gets run at once when reading another agency's large object. */
const PARALLEL_GETS = 16;

/** What the index entry of a chunked object (`<key>.n`) holds. */
interface ChunkIndex {
  chunks: number;
  size: number;
}

const HEX_KEY = /^[0-9a-f]{64}$/;

/**
 * An agency's content-addressed store of bundle parts: the key of every object is the SHA-256 of
 * its bytes, so a document shared by several transfers is stored once, and every reader checks what
 * it fetched against the key (and the sealed manifest) before it uses it.
 *
 * Each agency has a bucket of its own that only it may write (NATS permissions): a stolen key of
 * one agency cannot overwrite or delete another's documents. Another agency reads an object with a
 * direct get whose subject names the entry (`$JS.API.DIRECT.GET.<stream>.<subject>`): it can neither
 * list the bucket, read by sequence number nor create a consumer on it.
 *
 * The key is also the capability to read: objects are stored encrypted (AES-256-GCM) under their
 * own SHA-256 (convergent encryption), at the location SHA-256(key). Only who knows the key — the
 * parties of the transfer, from the sealed event, or who has the bytes already — can decrypt; the
 * newest entry of a bucket, which a wildcard direct get returns, is of no use to anyone else. A
 * receiver copies what it verified into its own store, so it can show, forward and export it without the sender.
 *
 * Objects whose ciphertext is up to 256 KiB are one entry (`<location>`); larger ones, up to 20 MiB,
 * are chunks (`<location>.<i>`) under a small index entry (`<location>.n`), all read with direct gets.
 */
export class DocumentStore {
  private constructor(
    private readonly owner: SealAgency,
    private readonly own: KV,
    private readonly jsm: JetStreamManager,
  ) {}

  /** Opens (creating if needed) `owner`'s bucket. */
  static async open(nc: NatsConnection, owner: SealAgency, replicas = 1): Promise<DocumentStore> {
    const [own, jsm] = await Promise.all([new Kvm(nc).create(documentBucket(owner), { history: 1, maxValueSize: MAX_ENTRY_BYTES, replicas }), jetstreamManager(nc)]);
    return new DocumentStore(owner, own, jsm);
  }

  /** Stores `bytes` in this agency's bucket unless already there; returns its key. */
  async put(bytes: Uint8Array): Promise<string> {
    const key = keyOf(bytes);
    const at = locationOf(key);
    const sealed = encrypt(key, bytes);
    if (sealed.length <= CHUNK_BYTES) {
      await this.create(at, sealed);
      return key;
    }
    if (await this.entry(this.owner, `${at}.n`)) return key;
    const chunks = Math.ceil(sealed.length / CHUNK_BYTES);
    for (let i = 0; i < chunks; i++) await this.create(`${at}.${i}`, sealed.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
    // The index last: an object whose index is there is whole.
    await this.create(`${at}.n`, Buffer.from(JSON.stringify({ chunks, size: sealed.length } satisfies ChunkIndex)));
    return key;
  }

  /**
   * Fetches the object under `key` from this agency's bucket, or else from `holder`'s (the agency
   * that sent it); throws NotFoundError when absent and DocumentIntegrityError when its bytes do not match the key.
   */
  async get(key: string, holder?: SealAgency): Promise<Buffer> {
    if (!HEX_KEY.test(key)) throw new NotFoundError(`object ${key} is not in the document store`);
    for (const agency of this.lookIn(holder)) {
      const sealed = await this.read(agency, locationOf(key));
      if (!sealed) continue;
      const bytes = decrypt(key, sealed);
      if (!bytes || keyOf(bytes) !== key) throw new DocumentIntegrityError(`object ${key} does not hash to its key`);
      return bytes;
    }
    throw new NotFoundError(`object ${key} is not in the document store`);
  }

  /** Fetches several objects (see get); a missing or corrupted one maps to null. */
  async getMany(keys: readonly string[], holder?: SealAgency): Promise<Map<string, Buffer | null>> {
    const found = new Map<string, Buffer | null>();
    await Promise.all(
      [...new Set(keys)].map(async (key) => {
        try {
          found.set(key, await this.get(key, holder));
        } catch (error) {
          if (error instanceof NotFoundError || error instanceof DocumentIntegrityError) found.set(key, null);
          else throw error;
        }
      }),
    );
    return found;
  }

  /** Copies objects fetched from another agency (already checked against their keys) into this agency's bucket. */
  async keep(objects: Iterable<Buffer | null>): Promise<void> {
    for (const bytes of objects) if (bytes) await this.put(bytes);
  }

  private lookIn(holder: SealAgency | undefined): SealAgency[] {
    return holder && holder !== this.owner ? [this.owner, holder] : [this.owner];
  }

  /** The stored bytes at `key` (a location) in `agency`'s bucket (a whole entry or its chunks), or undefined. */
  private async read(agency: SealAgency, key: string): Promise<Buffer | undefined> {
    const whole = await this.entry(agency, key);
    if (whole) return whole;
    const indexBytes = await this.entry(agency, `${key}.n`);
    if (!indexBytes) return undefined;
    const index = parseIndex(indexBytes);
    if (!index) throw new DocumentIntegrityError(`object ${key} has a malformed chunk index`);
    const chunks: Buffer[] = new Array<Buffer>(index.chunks);
    for (let start = 0; start < index.chunks; start += PARALLEL_GETS) {
      await Promise.all(
        Array.from({ length: Math.min(PARALLEL_GETS, index.chunks - start) }, async (_, offset) => {
          const chunk = await this.entry(agency, `${key}.${start + offset}`);
          if (!chunk) throw new DocumentIntegrityError(`object ${key} lacks chunk ${start + offset}`);
          chunks[start + offset] = chunk;
        }),
      );
    }
    return Buffer.concat(chunks);
  }

  /** One entry of `agency`'s bucket by its key (a direct get naming the subject), or undefined when absent or deleted. */
  private async entry(agency: SealAgency, key: string): Promise<Buffer | undefined> {
    const bucket = documentBucket(agency);
    const message = await this.jsm.direct.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.${key}` }).catch((error: unknown) => {
      // A bucket the agency never made answers as no bucket at all.
      if (/no message found|not found|no responders/i.test((error as Error).message)) return null;
      throw error;
    });
    if (!message || message.data.length === 0) return undefined;
    const operation = message.header?.get("KV-Operation");
    return operation === "DEL" || operation === "PURGE" ? undefined : Buffer.from(message.data);
  }

  /** Creates an entry of this agency's bucket; an entry already there (same key, so same bytes) is fine. */
  private async create(key: string, bytes: Uint8Array): Promise<void> {
    await this.own.create(key, bytes).catch((error: unknown) => {
      if (!/wrong last sequence|key exists/i.test((error as Error).message)) throw error;
    });
  }
}

/** Where an object is stored: the SHA-256 of its key (the key itself, which decrypts it, is never stored). */
function locationOf(key: string): string {
  return hash("sha256", `casebridge-document-location:${key}`, "hex");
}

/** AES-256-GCM under the object's own SHA-256; one key encrypts one plaintext only, so a fixed nonce is sound. */
const NONCE = Buffer.alloc(12);

function encrypt(key: string, bytes: Uint8Array): Buffer {
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(key, "hex"), NONCE);
  return Buffer.concat([cipher.update(bytes), cipher.final(), cipher.getAuthTag()]);
}

function decrypt(key: string, sealed: Buffer): Buffer | undefined {
  if (sealed.length < 16) return undefined;
  try {
    const decipher = createDecipheriv("aes-256-gcm", Buffer.from(key, "hex"), NONCE);
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  } catch {
    return undefined;
  }
}

function parseIndex(bytes: Buffer): ChunkIndex | undefined {
  try {
    const index = JSON.parse(bytes.toString("utf8")) as Partial<ChunkIndex>;
    return Number.isInteger(index.chunks) && index.chunks! > 0 && index.chunks! <= 1024 && Number.isInteger(index.size) ? (index as ChunkIndex) : undefined;
  } catch {
    return undefined;
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
