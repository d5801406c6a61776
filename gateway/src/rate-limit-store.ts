import { createHash } from "node:crypto";
import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ClientRateLimitInfo, Logger as RateLimitLogger, Store } from "express-rate-limit";
import type { Logger } from "@casebridge/kit";

/** JetStream key-value bucket of the gateway's rate-limit counters, shared by every replica. */
export const RATE_LIMIT_BUCKET = "cb_gateway_ratelimits";

/** The counting window (express-rate-limit's windowMs must be the same). */
export const RATE_WINDOW_MS = 60_000;
/** A counter outlives its window by one more, then the bucket drops it. */
const COUNTER_TTL_MS = 2 * RATE_WINDOW_MS;
/** Attempts of one increment when other replicas update the same counter at the same moment. */
const MAX_ATTEMPTS = 20;
/** Counters whose last revision a replica remembers before it forgets them all (they are re-read). */
const MAX_KNOWN = 10_000;

/**
 * express-rate-limit store that counts in a JetStream key-value bucket, so the limits hold for all
 * replicas together: a fixed window per key and minute (`<prefix><hash of the key>.<window>`),
 * incremented by compare-and-set on the entry's revision (create when new, update with the expected
 * revision, retry on a conflict). Old windows expire with the bucket's TTL (two minutes).
 */
export class NatsRateLimitStore implements Store {
  /** Counts are shared, not per process (express-rate-limit's double-count check). */
  readonly localKeys = false;
  /** Hits waiting for their counter's next write, per counter. */
  private readonly queued = new Map<string, { resolve: (totalHits: number) => void; reject: (error: unknown) => void }[]>();
  /** Counters being written now. */
  private readonly writing = new Set<string>();
  /** The last value and revision this replica wrote or read, per counter (tried first; a conflict re-reads). */
  private readonly known = new Map<string, { value: number; revision: number }>();

  constructor(
    private readonly kv: KV,
    /** Tells the limits apart in the bucket (e.g. `api.`, `login.`). */
    readonly prefix: string,
  ) {}

  /** Opens (or creates) the bucket; `storeFor(prefix)` gives one store per limit. */
  static async open(nc: NatsConnection): Promise<(prefix: string) => NatsRateLimitStore> {
    // In memory: counters live two minutes, and a lost count after a NATS restart costs nothing.
    const kv = await new Kvm(nc).create(RATE_LIMIT_BUCKET, { ttl: COUNTER_TTL_MS, history: 1, storage: "memory" });
    return (prefix) => new NatsRateLimitStore(kv, prefix);
  }

  /**
   * Counts one more hit of `key` in the current window. Hits of one key that arrive while its
   * counter is being written are added together in the next write (one compare-and-set for the lot,
   * each hit still told its exact place in the count), and the counter's last known revision is
   * tried first, so an uncontended hit costs one round trip to NATS rather than a read and a write.
   */
  increment(key: string): Promise<ClientRateLimitInfo> {
    const window = Math.floor(Date.now() / RATE_WINDOW_MS);
    const resetTime = new Date((window + 1) * RATE_WINDOW_MS);
    const entryKey = this.keyOf(key, window);
    return new Promise<number>((resolve, reject) => {
      const queued = this.queued.get(entryKey) ?? [];
      queued.push({ resolve, reject });
      this.queued.set(entryKey, queued);
      if (!this.writing.has(entryKey)) void this.write(entryKey);
    }).then((totalHits) => ({ totalHits, resetTime }));
  }

  /** Writes the queued hits of one counter, batch after batch, until none are left. */
  private async write(entryKey: string): Promise<void> {
    this.writing.add(entryKey);
    try {
      for (let batch = this.queued.get(entryKey); batch; batch = this.queued.get(entryKey)) {
        this.queued.delete(entryKey);
        try {
          const before = await this.add(entryKey, batch.length);
          batch.forEach((hit, i) => hit.resolve(before + i + 1));
        } catch (error) {
          batch.forEach((hit) => hit.reject(error));
        }
      }
    } finally {
      this.writing.delete(entryKey);
    }
  }

  /** Adds `hits` to a counter by compare-and-set; answers the count before them. */
  private async add(entryKey: string, hits: number): Promise<number> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        let current = this.known.get(entryKey);
        if (!current) {
          const entry = await this.kv.get(entryKey);
          if (!entry || entry.operation !== "PUT") {
            this.remember(entryKey, hits, await this.kv.create(entryKey, String(hits)));
            return 0;
          }
          current = { value: Number(entry.string()), revision: entry.revision };
        }
        this.remember(entryKey, current.value + hits, await this.kv.update(entryKey, String(current.value + hits), current.revision));
        return current.value;
      } catch (error) {
        if (!isConflict(error)) throw error;
        // Another replica counted first: read again.
        this.known.delete(entryKey);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new Error(`rate limit counter ${entryKey} stayed contended for ${MAX_ATTEMPTS} attempts`);
  }

  private remember(entryKey: string, value: number, revision: number): void {
    if (this.known.size >= MAX_KNOWN) this.known.clear(); // old windows' counters; re-read when needed
    this.known.set(entryKey, { value, revision });
  }

  /** Takes back one hit of `key` (express-rate-limit's skip options); best effort. */
  async decrement(key: string): Promise<void> {
    const entryKey = this.keyOf(key, Math.floor(Date.now() / RATE_WINDOW_MS));
    this.known.delete(entryKey);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const entry = await this.kv.get(entryKey);
      if (!entry || entry.operation !== "PUT") return;
      try {
        await this.kv.update(entryKey, String(Math.max(0, Number(entry.string()) - 1)), entry.revision);
        return;
      } catch (error) {
        if (!isConflict(error)) throw error;
      }
    }
  }

  /** Forgets the current count of `key`. */
  async resetKey(key: string): Promise<void> {
    const entryKey = this.keyOf(key, Math.floor(Date.now() / RATE_WINDOW_MS));
    this.known.delete(entryKey);
    await this.kv.purge(entryKey);
  }

  private keyOf(key: string, window: number): string {
    return `${this.prefix}${createHash("sha256").update(key).digest("base64url")}.${window}`;
  }
}

/** A failed compare-and-set (wrong last sequence), as opposed to NATS being away. */
function isConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test((error as Error)?.message ?? "");
}

/**
 * express-rate-limit's logger: a store error lets the request through (passOnStoreError) with a
 * warning. Failing open is deliberate: the limits protect against abuse, they do not authorise, and
 * failing closed would turn a NATS outage into an outage of the whole API for bearer-token callers.
 */
export function rateLimitLogger(logger: Logger): RateLimitLogger {
  return {
    error: (error, message) => logger.warn({ err: error }, message ?? "rate limit store failed; request let through"),
    warn: (error, message) => logger.warn({ err: error }, message ?? "rate limit warning"),
  };
}
