import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { UnavailableError } from "../errors";
import type { TimeStampAuthority, TimeStampTransport } from "./timestamp";

/** The NATS subject the time-stamp authority answers on: request = DER TimeStampReq, reply = DER TimeStampResp. */
export const TSA_NATS_SUBJECT = "cb.tsa.request";

/** The queue group of the TSA replicas: each request is answered by one of them. */
export const TSA_QUEUE = "cb-tsa";

/** A running TSA subscription. */
export interface TimeStampServer {
  /** Stops taking requests and lets the ones in hand finish. */
  stop(): Promise<void>;
}

/** Answers time-stamp requests on TSA_NATS_SUBJECT (queue group TSA_QUEUE) with `tsa`. */
export function serveTimeStamps(nc: NatsConnection, tsa: TimeStampAuthority, logger: Logger): TimeStampServer {
  const inFlight = new Set<Promise<void>>();
  const subscription: Subscription = nc.subscribe(TSA_NATS_SUBJECT, {
    queue: TSA_QUEUE,
    callback: (error, msg) => {
      if (error) {
        logger.warn({ err: error }, "time-stamp subscription error");
        return;
      }
      const job = tsa.respond(msg.data).then(
        (response) => {
          msg.respond(response);
        },
        (err: unknown) => logger.error({ err }, "time-stamp request failed"),
      );
      inFlight.add(job);
      void job.finally(() => inFlight.delete(job));
    },
  });
  return {
    stop: async () => {
      await subscription.drain();
      await Promise.all([...inFlight]);
    },
  };
}

/** How long a service waits for the TSA, and how often it tries. */
export interface TimeStampClientOptions {
  /** Per attempt; default 3 s. */
  readonly timeoutMs?: number;
  /** Default 2 (one retry). */
  readonly attempts?: number;
}

/** A TimeStampTransport over NATS request/reply; throws UnavailableError when no TSA answers after the retry. */
export function natsTimeStampTransport(nc: NatsConnection, options: TimeStampClientOptions = {}): TimeStampTransport {
  const timeout = options.timeoutMs ?? 3000;
  const attempts = options.attempts ?? 2;
  return async (request) => {
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const reply = await nc.request(TSA_NATS_SUBJECT, request, { timeout });
        return Buffer.from(reply.data);
      } catch (error) {
        last = error;
      }
    }
    throw new UnavailableError(`the time-stamp authority did not answer on ${TSA_NATS_SUBJECT} (${attempts} attempt(s), ${timeout} ms each): ${(last as Error).message}; nothing was sealed, try again`, { cause: last });
  };
}
