import { randomUUID } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { consumeEvents, DEAD_LETTER_STREAM, ensureConsumer, ensureStream, publishEvent, type DeliveredEvent } from "@casebridge/kit";
import { asOperator, eventually, infra, quietLogger } from "./support";

describe("JetStream helpers on a real NATS server", () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  const run = randomUUID().slice(0, 8);
  const stream = `IT_EVENTS_${run}`;
  const subject = (s: string) => `it.${run}.${s}`;

  beforeAll(async () => {
    nc = await connect({ ...asOperator(), servers: infra.natsUrl });
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    await ensureStream(jsm, { name: stream, subjects: [`it.${run}.>`], duplicate_window: 60_000_000_000 });
    await ensureStream(jsm, { name: DEAD_LETTER_STREAM, subjects: ["cb.dlq.>"] });
  });
  afterAll(async () => {
    await jsm.streams.delete(stream);
    await nc.close();
  });

  it("creates a stream idempotently and updates it", async () => {
    await ensureStream(jsm, { name: stream, subjects: [`it.${run}.>`], duplicate_window: 60_000_000_000, max_age: 3600_000_000_000 });
    expect((await jsm.streams.info(stream)).config.max_age).toBe(3600_000_000_000);
  });

  it("drops a second publish with the same event id (Nats-Msg-Id)", async () => {
    const first = await publishEvent(js, subject("dedup"), new TextEncoder().encode("one"), `evt-${run}-1`);
    const again = await publishEvent(js, subject("dedup"), new TextEncoder().encode("one"), `evt-${run}-1`);
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
  });

  it("consumes with explicit ack, redelivers after a failure, and acks once handled", async () => {
    await ensureConsumer(jsm, stream, { durable_name: "it-retry", filter_subject: subject("retry"), max_deliver: 5 });
    const seen: DeliveredEvent[] = [];
    const consumer = await consumeEvents(
      js,
      stream,
      "it-retry",
      (event) => {
        seen.push(event);
        return event.deliveryCount === 1 ? Promise.reject(new Error("first try fails")) : Promise.resolve();
      },
      { concurrency: 2, backoffMs: [50], maxDeliver: 5, logger: quietLogger },
    );
    await publishEvent(js, subject("retry"), new TextEncoder().encode("payload"), `evt-${run}-retry`);
    await eventually(async () => {
      expect(seen.map((e) => e.deliveryCount)).toEqual([1, 2]);
      expect((await jsm.consumers.info(stream, "it-retry")).num_ack_pending).toBe(0);
    });
    expect(seen[1]?.eventId).toBe(`evt-${run}-retry`);
    expect(new TextDecoder().decode(seen[1]?.data)).toBe("payload");
    await consumer.stop();
  });

  it("processes at most `concurrency` events at once", async () => {
    await ensureConsumer(jsm, stream, { durable_name: "it-bounded", filter_subject: subject("bounded") });
    let running = 0;
    let peak = 0;
    let done = 0;
    const consumer = await consumeEvents(
      js,
      stream,
      "it-bounded",
      async () => {
        peak = Math.max(peak, ++running);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
        done++;
      },
      { concurrency: 3, backoffMs: [50], maxDeliver: 5, logger: quietLogger },
    );
    await Promise.all(Array.from({ length: 20 }, (_, i) => publishEvent(js, subject("bounded"), new Uint8Array([i]), `evt-${run}-b${i}`)));
    await eventually(() => Promise.resolve(expect(done).toBe(20)));
    expect(peak).toBe(3);
    await consumer.stop();
  });

  it("moves an event that keeps failing to the dead-letter stream instead of losing it", async () => {
    await ensureConsumer(jsm, stream, { durable_name: "it-poison", filter_subject: subject("poison"), max_deliver: 10 });
    const consumer = await consumeEvents(js, stream, "it-poison", () => Promise.reject(new Error("cannot apply")), {
      concurrency: 1,
      backoffMs: [10],
      maxDeliver: 3,
      logger: quietLogger,
    });
    await publishEvent(js, subject("poison"), new TextEncoder().encode("poison"), `evt-${run}-poison`);
    const dead = await eventually(async () => {
      const stored = await jsm.streams.getMessage(DEAD_LETTER_STREAM, { last_by_subj: `cb.dlq.${stream}.it-poison` });
      if (!stored) throw new Error("not in the dead-letter stream yet");
      return stored;
    });
    expect(new TextDecoder().decode(dead.data)).toBe("poison");
    expect(dead.header.get("Cb-Failure")).toBe("cannot apply");
    await eventually(async () => expect((await jsm.consumers.info(stream, "it-poison")).num_ack_pending).toBe(0));
    await consumer.stop();
  });
});
