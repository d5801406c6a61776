import {
  AckPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type PubAck,
  type StreamConfig,
} from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { Logger } from "pino";

/** Stream that keeps events a consumer gave up on, so that nothing is lost (subjects cb.dlq.<stream>.<consumer>). */
export const DEAD_LETTER_STREAM = "CB_DEAD_LETTERS";

function isNotFound(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

/**
 * Creates the stream, or updates it to `config` if it exists and differs; safe to call on every
 * start. A stream shared by every service (CB_TRANSFERS, CB_LEDGER, ...) may be created by any of
 * them but reconfigured only by the operator (NATS permissions): then the existing configuration
 * is kept and the answer is "kept".
 */
export async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string; subjects: string[] }): Promise<"created" | "unchanged" | "updated" | "kept"> {
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(config.name)).config;
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add(config);
    return "created";
  }
  const differs = Object.entries(config).some(([key, value]) => JSON.stringify(current[key as keyof StreamConfig]) !== JSON.stringify(value));
  if (!differs) return "unchanged";
  try {
    await jsm.streams.update(config.name, config);
    return "updated";
  } catch (err) {
    if (isPermissionViolation(err)) return "kept";
    throw err;
  }
}

/** True when nats-server refused the operation for lack of permission (this user may not publish or subscribe there). */
export function isPermissionViolation(err: unknown): boolean {
  return err instanceof Error && /permissions violation/i.test(`${err.message} ${(err.cause as Error | undefined)?.message ?? ""}`);
}

/** Creates the durable pull consumer with explicit ack, or updates it; safe to call on every start. */
export async function ensureConsumer(jsm: JetStreamManager, stream: string, config: Partial<ConsumerConfig> & { durable_name: string }): Promise<void> {
  const wanted = { ack_policy: AckPolicy.Explicit, ...config };
  try {
    await jsm.consumers.info(stream, config.durable_name);
  } catch (err) {
    if (!isNotFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    await jsm.consumers.add(stream, wanted);
    return;
  }
  await jsm.consumers.update(stream, config.durable_name, wanted);
}

/** Publishes an event durably; the stream drops a second publish with the same `eventId` (Nats-Msg-Id). */
export function publishEvent(js: JetStreamClient, subject: string, data: Uint8Array, eventId: string, headers: Record<string, string> = {}): Promise<PubAck> {
  const h = natsHeaders();
  for (const [name, value] of Object.entries(headers)) h.set(name, value);
  return js.publish(subject, data, { msgID: eventId, headers: h });
}

/** One delivery of an event to a consumer. */
export interface DeliveredEvent {
  subject: string;
  data: Uint8Array;
  /** The publisher's event id (Nats-Msg-Id), the key for idempotent application. */
  eventId: string;
  streamSequence: number;
  deliveryCount: number;
  header(name: string): string;
}

/** How a consumer runs. */
export interface ConsumeOptions {
  /** Events processed at the same time at most. */
  concurrency: number;
  /** Delay before each redelivery after a failure, by attempt; the last value repeats. */
  backoffMs: number[];
  /** After this many failed deliveries the event goes to the dead-letter stream and is acked there. */
  maxDeliver: number;
  logger: Logger;
  /** While an event is being handled, tell the server it is in progress this often (keep below the consumer's ack_wait). */
  progressEveryMs?: number;
}

/** A running consumer; `stop()` lets events in progress finish, then returns. */
export interface RunningConsumer {
  stop(): Promise<void>;
}

function toDelivered(m: JsMsg): DeliveredEvent {
  return {
    subject: m.subject,
    data: m.data,
    eventId: m.headers?.get("Nats-Msg-Id") ?? `${m.info.stream}:${m.seq}`,
    streamSequence: m.seq,
    deliveryCount: m.info.deliveryCount,
    header: (name) => m.headers?.get(name) ?? "",
  };
}

/**
 * Consumes a durable consumer with bounded concurrency: ack after `handle` succeeds, nak with
 * back-off when it throws, and after `maxDeliver` failures move the event to the dead-letter stream.
 */
export async function consumeEvents(
  js: JetStreamClient,
  stream: string,
  durable: string,
  handle: (event: DeliveredEvent) => Promise<void>,
  options: ConsumeOptions,
): Promise<RunningConsumer> {
  const log = options.logger.child({ stream, consumer: durable });
  const consumer = await js.consumers.get(stream, durable);
  const messages = await consumer.consume({ max_messages: Math.max(2, options.concurrency * 2) });
  const inFlight = new Set<Promise<void>>();

  const process = async (m: JsMsg): Promise<void> => {
    const event = toDelivered(m);
    const progress = options.progressEveryMs ? setInterval(() => m.working(), options.progressEveryMs) : undefined;
    try {
      await handle(event);
      m.ack();
    } catch (err) {
      if (event.deliveryCount >= options.maxDeliver) {
        log.error({ err, eventId: event.eventId, deliveries: event.deliveryCount }, "event failed too often; moving it to the dead-letter stream");
        try {
          await publishEvent(js, `cb.dlq.${stream}.${durable}`, m.data, `${durable}:${event.eventId}`, {
            "Cb-Original-Subject": m.subject,
            "Cb-Failure": String((err as Error).message ?? err).slice(0, 500),
          });
          m.term(`moved to the dead-letter stream after ${event.deliveryCount} deliveries`);
        } catch (dlqErr) {
          log.error({ err: dlqErr }, "dead-letter publish failed; the event stays for redelivery");
          m.nak(options.backoffMs.at(-1));
        }
        return;
      }
      const delay = options.backoffMs[Math.min(event.deliveryCount - 1, options.backoffMs.length - 1)] ?? 1000;
      log.warn({ err, eventId: event.eventId, deliveries: event.deliveryCount, retryInMs: delay }, "event failed; will retry");
      m.nak(delay);
    } finally {
      clearInterval(progress);
    }
  };

  const loop = (async () => {
    for await (const m of messages) {
      while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
      const task: Promise<void> = process(m).finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
    await Promise.all(inFlight);
  })();

  return {
    stop: async () => {
      await messages.close();
      await loop;
    },
  };
}
