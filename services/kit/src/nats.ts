import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ConfigError } from "./config";
import { natsAuthOptions, NatsCredentialsError } from "./nats-auth/credentials";
import type { NatsPrincipal } from "./nats-auth/permissions";
import { retry } from "./retry";
import { StartupError } from "./startup-error";

/** A NATS connection plus whether it is connected right now (it reconnects by itself, forever). */
export interface NatsLink {
  nc: NatsConnection;
  isConnected(): boolean;
}

/** Who connects: the NATS user it authenticates as (its nkey seed file) and its URL(s). */
export interface NatsIdentity {
  servers: string;
  principal: NatsPrincipal;
  seedFile: string;
  /** TLS options (nats-tls.ts natsTlsOptions); none on a plaintext local server. */
  tls?: Pick<ConnectionOptions, "tls">;
}

/**
 * Connects to NATS as `identity.principal`, retrying the first connection `attempts` times; once
 * connected the client reconnects without limit, and `onChange` hears every loss and return of the
 * connection. A missing or malformed seed file is a ConfigError; a refused key is not retried.
 */
export async function connectNats(identity: NatsIdentity, attempts: number, logger: Logger, onChange?: (connected: boolean) => void): Promise<NatsLink> {
  const { servers, principal, seedFile, tls = {} } = identity;
  let auth;
  try {
    auth = natsAuthOptions(principal, seedFile);
  } catch (error) {
    if (error instanceof NatsCredentialsError) throw new ConfigError([error.message]);
    throw error;
  }
  let nc: NatsConnection;
  try {
    nc = await retry(
      attempts,
      () => connect({ servers: servers.split(","), name: principal, maxReconnectAttempts: -1, reconnectTimeWait: 500, pingInterval: 10_000, ...tls, ...auth }),
      (err, n, delayMs) => logger.warn({ attempt: n, retryInMs: delayMs, reason: (err as Error).message }, "NATS not reachable yet"),
    );
  } catch (err) {
    throw new StartupError(`cannot reach NATS at ${servers} after ${attempts} attempt(s): ${(err as Error).message}`, { cause: err });
  }
  let connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" && connected) {
        connected = false;
        logger.warn({ server: status.server }, "NATS connection lost; reconnecting");
        onChange?.(false);
      } else if (status.type === "reconnect" && !connected) {
        connected = true;
        logger.info({ server: status.server }, "NATS connection restored");
        onChange?.(true);
      }
    }
  })();
  return { nc, isConnected: () => connected && !nc.isClosed() };
}
