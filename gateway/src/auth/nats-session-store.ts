import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import session from "express-session";

/** JetStream key-value bucket of the gateway's browser sessions. */
export const SESSION_BUCKET = "cb_gateway_sessions";

/**
 * express-session store in a JetStream key-value bucket: every gateway replica sees every session,
 * and sessions survive a gateway restart. Entries expire with the bucket's TTL (the idle timeout);
 * each request that touches a session writes it again.
 */
export class NatsSessionStore extends session.Store {
  private constructor(private readonly kv: KV) {
    super();
  }

  /** Opens (or creates) the bucket with the given idle timeout. */
  static async open(nc: NatsConnection, idleTimeoutMs: number): Promise<NatsSessionStore> {
    const kv = await new Kvm(nc).create(SESSION_BUCKET, { ttl: idleTimeoutMs, history: 1 });
    return new NatsSessionStore(kv);
  }

  override get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void {
    this.kv
      .get(sid)
      .then((entry) => callback(null, entry && entry.operation === "PUT" && entry.value.length > 0 ? (entry.json<session.SessionData>()) : null))
      .catch((error: unknown) => callback(error));
  }

  override set(sid: string, data: session.SessionData, callback?: (err?: unknown) => void): void {
    this.kv
      .put(sid, JSON.stringify(data))
      .then(() => callback?.())
      .catch((error: unknown) => callback?.(error));
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.kv
      .purge(sid)
      .then(() => callback?.())
      .catch((error: unknown) => callback?.(error));
  }

  override touch(sid: string, data: session.SessionData, callback?: () => void): void {
    this.set(sid, data, () => callback?.());
  }
}
