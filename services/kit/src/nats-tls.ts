import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { ConnectionOptions } from "@nats-io/transport-node";
import type { Env, EnvReader } from "./config";

/**
 * TLS towards NATS, kept apart from the connection itself (nats.ts), which only spreads what
 * `natsTlsOptions` returns into its connect options:
 *
 * - NATS_TLS_CA: a PEM file of the certificate(s) to trust for the NATS servers (in Kubernetes the
 *   platform root, `<PKI_DIR>/root/ca.pem`; nats-server presents its certificate followed by the TLS
 *   CA's). When set, the client requires TLS (a server that offers none is refused), whatever the
 *   URL scheme; `tls://` URLs say the same thing to a reader.
 * - unset: plaintext unless the URL is tls:// (then the system trust store), as before.
 *
 * Client certificates (NATS_TLS_CERT / NATS_TLS_KEY) are optional, for a server with `verify: true`;
 * the chart authenticates NATS clients with nkeys instead.
 */

/** The NATS TLS settings of a process. */
export interface NatsTlsConfig {
  /** PEM file of the trust anchors for the NATS servers (NATS_TLS_CA). */
  natsTlsCa: string | undefined;
  /** Optional client certificate chain and key (NATS_TLS_CERT, NATS_TLS_KEY). */
  natsTlsCert: string | undefined;
  natsTlsKey: string | undefined;
}

/** Reads NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY (paths), recording a problem for a missing file or half a client pair. */
export function readNatsTls(read: EnvReader, env: Env): NatsTlsConfig {
  const path = (name: string) => {
    const raw = env[name]?.trim();
    if (!raw) return undefined;
    const file = resolve(raw);
    if (!existsSync(file)) read.problem(`${name} ${file} does not exist`);
    return file;
  };
  const config = { natsTlsCa: path("NATS_TLS_CA"), natsTlsCert: path("NATS_TLS_CERT"), natsTlsKey: path("NATS_TLS_KEY") };
  if (!config.natsTlsCert !== !config.natsTlsKey) read.problem("NATS_TLS_CERT and NATS_TLS_KEY go together");
  return config;
}

/** The TLS part of the NATS connect options: `{ tls: {...} }` when NATS_TLS_* are set, else nothing. */
export function natsTlsOptions(config: Partial<NatsTlsConfig>): Pick<ConnectionOptions, "tls"> {
  if (!config.natsTlsCa && !config.natsTlsCert) return {};
  return {
    tls: {
      ...(config.natsTlsCa ? { caFile: config.natsTlsCa } : {}),
      ...(config.natsTlsCert && config.natsTlsKey ? { certFile: config.natsTlsCert, keyFile: config.natsTlsKey } : {}),
    },
  };
}
