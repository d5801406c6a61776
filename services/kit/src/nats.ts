import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { retry } from "./retry";
import { StartupError } from "./startup-error";

/** A NATS connection plus whether it is connected right now (it reconnects by itself, forever). */
export interface NatsLink {
  nc: NatsConnection;
  isConnected(): boolean;
}

/**
 * Connects to NATS, retrying the first connection `attempts` times; once connected the client
 * reconnects without limit, and `onChange` hears every loss and return of the connection.
 */
export async function connectNats(
  servers: string,
  name: string,
  attempts: number,
  logger: Logger,
  onChange?: (connected: boolean) => void,
  // TLS options (nats-tls.ts natsTlsOptions): kept in one argument so that authentication can be added beside them.
  tls: Pick<ConnectionOptions, "tls"> = {},
): Promise<NatsLink> {
  let nc: NatsConnection;
  try {
    nc = await retry(
      attempts,
      () => connect({ servers: servers.split(","), name, maxReconnectAttempts: -1, reconnectTimeWait: 500, pingInterval: 10_000, ...tls }),
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
