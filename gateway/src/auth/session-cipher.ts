import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";

/** A 32-byte AES-256-GCM key and its id (the first 8 hex digits of its SHA-256, written before every value it seals). */
export interface SessionKey {
  readonly id: string;
  readonly key: Buffer;
}

/** The key of `raw` (32 bytes), with its id. */
export function sessionKey(raw: Buffer): SessionKey {
  if (raw.length !== 32) throw new Error(`a session encryption key is 32 bytes (base64), got ${raw.length}`);
  return { id: createHash("sha256").update(raw).digest("hex").slice(0, 8), key: raw };
}

const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Seals session values at rest with AES-256-GCM: `v1.<key id>.<base64url(iv | tag | ciphertext)>`.
 * The session id is the additional authenticated data, so a value copied under another session id
 * does not open. New values are sealed with the current key; values of the old keys still open, so
 * keys rotate without signing everyone out.
 */
export class SessionCipher {
  private readonly keys = new Map<string, Buffer>();

  constructor(
    private readonly current: SessionKey,
    old: readonly SessionKey[] = [],
  ) {
    for (const key of [current, ...old]) this.keys.set(key.id, key.key);
  }

  /** The sealed form of `plain`, bound to `sessionId`. */
  seal(sessionId: string, plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.current.key, iv);
    cipher.setAAD(Buffer.from(sessionId, "utf8"));
    const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return `${VERSION}.${this.current.id}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString("base64url")}`;
  }

  /** The plain value sealed for `sessionId`, or undefined when it was sealed for another id, with an unknown key, or tampered with. */
  open(sessionId: string, sealed: string): string | undefined {
    const [version, keyId, data, extra] = sealed.split(".");
    const key = this.keys.get(keyId ?? "");
    if (version !== VERSION || !key || !data || extra !== undefined) return undefined;
    const bytes = Buffer.from(data, "base64url");
    if (bytes.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(sessionId, "utf8"));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      return undefined;
    }
  }
}
