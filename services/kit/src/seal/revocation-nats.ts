import { Kvm, type KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { parseCrl } from "./crl";
import { RevocationError, type RevocationRegistry } from "./revocation";

/** The JetStream key-value bucket that holds the current CRL of every CA, one key per CA. */
export const CRL_BUCKET = "cb_seal_crls";

/** Opens (creating if needed) the CRL bucket; it keeps the last 5 lists of each CA. */
export async function openCrlBucket(nc: NatsConnection): Promise<KV> {
  return new Kvm(nc).create(CRL_BUCKET, { history: 5 });
}

/** The bucket key of a CRL: its issuer's key identifier. */
export function crlKeyOf(der: Uint8Array): string {
  const keyId = parseCrl(der).authorityKeyId;
  if (!keyId) throw new RevocationError("the CRL names no authority key identifier");
  return `crl.${keyId.toString("hex")}`;
}

/** Publishes a CRL to every service; returns the bucket revision. */
export async function publishCrl(kv: KV, der: Uint8Array): Promise<number> {
  return kv.put(crlKeyOf(der), der);
}

/** A running CRL watch. */
export interface CrlWatch {
  stop(): void;
}

/**
 * Applies every CRL in the bucket to `registry` and keeps applying new ones as the admin publishes
 * them (the watch starts before the initial read, so no update falls between). Lists that fail the registry's checks are logged and ignored.
 */
export async function watchCrls(kv: KV, registry: RevocationRegistry, logger: Logger): Promise<CrlWatch> {
  const offer = (key: string, value: Uint8Array): void => {
    try {
      const outcome = registry.apply(value);
      if (outcome === "applied") logger.info({ key }, "revocation list applied");
    } catch (error) {
      logger.warn({ key, err: error }, "revocation list refused");
    }
  };
  const watch = await kv.watch({ key: "crl.>", include: "updates" });
  void (async () => {
    for await (const entry of watch) {
      if (entry.operation === "PUT") offer(entry.key, entry.value);
    }
  })();
  for await (const key of await kv.keys("crl.>")) {
    const entry = await kv.get(key);
    if (entry?.operation === "PUT") offer(key, entry.value);
  }
  return { stop: () => watch.stop() };
}
