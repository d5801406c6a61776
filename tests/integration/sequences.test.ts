import { randomUUID } from "node:crypto";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { AggregateStore, SEQUENCE_CODEC, Sequences } from "@casebridge/kit";
import { asOperator, infra } from "./support";

describe("named sequences on a real JetStream key-value bucket (the court's case numbers)", () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ ...asOperator(), servers: infra.natsUrl });
  });
  afterAll(async () => {
    await nc?.close();
  });

  it("hands out 1, 2, 3, … each once, to two replicas asking at the same time, and goes on after a restart", async () => {
    const bucket = `it_seq_${randomUUID().slice(0, 8)}`;
    const replica = async () => new Sequences(new AggregateStore((await new Kvm(nc).create(bucket, { history: 1 })), "sequence", SEQUENCE_CODEC));
    const [a, b] = [await replica(), await replica()];
    const name = "320582-CRT.e58891e5889d.2026";
    const numbers = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? a : b).next(name)));
    expect([...numbers].sort((x, y) => x - y)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
    // Another sequence starts at 1; a new instance (a restart) goes on where the last stopped.
    expect(await a.next("320581-CRT.e58891e5889d.2026")).toBe(1);
    expect(await (await replica()).next(name)).toBe(25);
    await new Kvm(nc).open(bucket).then((kv) => kv.destroy());
  }, 30_000);
});
