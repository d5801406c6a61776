import { jetstreamManager } from "@nats-io/jetstream";
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
 * them. Reads without a JetStream consumer (the services may create none on this bucket): a plain
 * subscription to the bucket's subjects hears each new list, started before the initial read so that
 * no update falls between; the initial read lists the keys from the stream's subjects and fetches
 * each with a direct get. Lists that fail the registry's checks are logged and ignored.
 */
export async function watchCrls(nc: NatsConnection, registry: RevocationRegistry, logger: Logger): Promise<CrlWatch> {
  const offer = (key: string, value: Uint8Array): void => {
    try {
      const outcome = registry.apply(value);
      if (outcome === "applied") logger.info({ key }, "revocation list applied");
    } catch (error) {
      logger.warn({ key, err: error }, "revocation list refused");
    }
  };
  await openCrlBucket(nc);
  const prefix = `$KV.${CRL_BUCKET}.`;
  const updates = nc.subscribe(`${prefix}crl.>`);
  void (async () => {
    for await (const message of updates) {
      if (message.data.length > 0 && !message.headers?.get("KV-Operation")) offer(message.subject.slice(prefix.length), message.data);
    }
  })();
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(`KV_${CRL_BUCKET}`, { subjects_filter: `${prefix}crl.>` });
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const message = await jsm.direct.getMessage(`KV_${CRL_BUCKET}`, { last_by_subj: subject });
    if (message && message.data.length > 0 && !message.header?.get("KV-Operation")) offer(subject.slice(prefix.length), message.data);
  }
  return { stop: () => updates.unsubscribe() };
}
