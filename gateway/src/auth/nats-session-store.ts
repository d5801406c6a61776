import { createHash } from "node:crypto";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import session from "express-session";
import type { SessionCipher } from "./session-cipher";

/** JetStream key-value bucket of the gateway's browser sessions. */
export const SESSION_BUCKET = "cb_gateway_sessions";

/** Where keycloak-connect keeps the tokens of a session (its SessionStore.TOKEN_KEY). */
const TOKEN_KEY = "keycloak-token";
/** Keys of the sessions themselves, and of the index from a Keycloak session (sid) to the gateway sessions that hold its tokens. */
const SESSION_PREFIX = "s.";
const SID_PREFIX = "sid.";
/** Keys of the index from a Keycloak user (sub) to the ids of its gateway sessions (sealed: an id opens a session). */
const SUB_PREFIX = "sub.";
/** What the user index seals its session ids to. */
const SUB_INDEX_BINDING = "user-index";
/** How often a live session writes its index entry again (the bucket's TTL is the idle timeout, much longer). */
const INDEX_REFRESH_MS = 5 * 60_000;

/**
 * express-session store in a JetStream key-value bucket: every gateway replica sees every session,
 * and sessions survive a gateway restart. Entries expire with the bucket's TTL (the idle timeout);
 * each request that touches a session writes it again. Values are sealed (AES-256-GCM, bound to the
 * session id), so the bucket holds no token in the clear; a value moved to another key does not open.
 * An index (`sid.<hash of the Keycloak session id>.<session id>`) finds the sessions a back-channel
 * logout ends; another (`sub.<hash of the user>.<hash of the session id>`, the id sealed) finds a
 * user's sessions, to check them with Keycloak after a logout.
 */
export class NatsSessionStore extends session.Store {
  private readonly indexed = new Map<string, number>();

  private constructor(
    private readonly kv: KV,
    private readonly cipher: SessionCipher,
  ) {
    super();
  }

  /** Opens (or creates) the bucket with the given idle timeout. */
  static async open(nc: NatsConnection, idleTimeoutMs: number, cipher: SessionCipher): Promise<NatsSessionStore> {
    const kv = await new Kvm(nc).create(SESSION_BUCKET, { ttl: idleTimeoutMs, history: 1 });
    return new NatsSessionStore(kv, cipher);
  }

  /** The bucket key of session `sid` (a session id is not always a valid key: it is hashed). */
  static keyOf(sid: string): string {
    return `${SESSION_PREFIX}${hashed(sid)}`;
  }

  override get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void {
    this.kv
      .get(NatsSessionStore.keyOf(sid))
      .then((entry) => {
        if (!entry || entry.operation !== "PUT" || entry.value.length === 0) return callback(null, null);
        // A value that does not open (another session's, an unknown key, tampered with) is no session.
        const plain = this.cipher.open(sid, entry.string());
        callback(null, plain === undefined ? null : (JSON.parse(plain) as session.SessionData));
      })
      .catch((error: unknown) => callback(error));
  }

  override set(sid: string, data: session.SessionData, callback?: (err?: unknown) => void): void {
    this.write(sid, data)
      .then(() => callback?.())
      .catch((error: unknown) => callback?.(error));
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.indexed.delete(sid);
    this.kv
      .purge(NatsSessionStore.keyOf(sid))
      .then(() => callback?.())
      .catch((error: unknown) => callback?.(error));
  }

  override touch(sid: string, data: session.SessionData, callback?: () => void): void {
    this.set(sid, data, () => callback?.());
  }

  /** Ends every gateway session holding tokens of the Keycloak session `keycloakSid`; resolves to how many. */
  async destroyByKeycloakSession(keycloakSid: string): Promise<number> {
    const prefix = `${SID_PREFIX}${hashed(keycloakSid)}.`;
    const keys: string[] = [];
    for await (const key of await this.kv.keys(`${prefix}>`)) keys.push(key);
    for (const key of keys) {
      await this.kv.purge(`${SESSION_PREFIX}${key.slice(prefix.length)}`);
      await this.kv.purge(key);
    }
    return keys.length;
  }

  /** The sessions of Keycloak user `sub` other than those of Keycloak session `except`: their ids and tokens (stale index entries are dropped). */
  async sessionsOfUser(sub: string, except?: string): Promise<{ sessionId: string; tokens: SessionTokens }[]> {
    const prefix = `${SUB_PREFIX}${hashed(sub)}.`;
    const keys: string[] = [];
    for await (const key of await this.kv.keys(`${prefix}>`)) keys.push(key);
    const found: { sessionId: string; tokens: SessionTokens }[] = [];
    for (const key of keys) {
      const entry = await this.kv.get(key);
      const sessionId = entry?.operation === "PUT" ? this.cipher.open(SUB_INDEX_BINDING, entry.string()) : undefined;
      const data = sessionId ? await new Promise<session.SessionData | null | undefined>((resolve) => this.get(sessionId, (_error, value) => resolve(value))) : undefined;
      const tokens = data ? tokensOf(data) : undefined;
      if (!sessionId || !tokens) {
        await this.kv.purge(key);
        continue;
      }
      if (except === undefined || claimsOf(tokens).sid !== except) found.push({ sessionId, tokens });
    }
    return found;
  }

  private async write(sid: string, data: session.SessionData): Promise<void> {
    await this.kv.put(NatsSessionStore.keyOf(sid), this.cipher.seal(sid, JSON.stringify(data)));
    const tokens = tokensOf(data);
    const { sid: keycloakSid, sub } = tokens ? claimsOf(tokens) : {};
    const last = this.indexed.get(sid);
    if (keycloakSid && (last === undefined || Date.now() - last > INDEX_REFRESH_MS)) {
      await this.kv.put(`${SID_PREFIX}${hashed(keycloakSid)}.${hashed(sid)}`, "");
      if (sub) await this.kv.put(`${SUB_PREFIX}${hashed(sub)}.${hashed(sid)}`, this.cipher.seal(SUB_INDEX_BINDING, sid));
      if (this.indexed.size > 100_000) this.indexed.clear(); // sessions that expired idle are never destroyed here
      this.indexed.set(sid, Date.now());
    }
  }
}

function hashed(value: string): string {
  return createHash("sha256").update(value).digest("base64url");
}

/** The tokens keycloak-connect keeps in a session. */
export interface SessionTokens {
  access_token?: string;
  id_token?: string;
  refresh_token?: string;
}

/** The tokens a session holds, or undefined. */
function tokensOf(data: session.SessionData): SessionTokens | undefined {
  const raw = (data as unknown as Record<string, unknown>)[TOKEN_KEY];
  if (typeof raw !== "string") return undefined;
  try {
    return JSON.parse(raw) as SessionTokens;
  } catch {
    return undefined;
  }
}

/** The Keycloak session (`sid`) and user (`sub`) of a session's tokens. */
function claimsOf(tokens: SessionTokens): { sid?: string; sub?: string } {
  for (const token of [tokens.id_token, tokens.access_token]) {
    const payload = token?.split(".")[1];
    if (!payload) continue;
    try {
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { sid?: unknown; sub?: unknown };
      if (typeof claims.sid === "string" && claims.sid) return { sid: claims.sid, sub: typeof claims.sub === "string" ? claims.sub : undefined };
    } catch {
      continue;
    }
  }
  return {};
}
