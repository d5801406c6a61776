import type { AggregateCodec, AggregateStore } from "./aggregate-store";

/** How a sequence is stored: its last number, as decimal text. */
export const SEQUENCE_CODEC: AggregateCodec<number> = {
  encode: (value) => Buffer.from(String(value)),
  decode: (bytes) => Number(Buffer.from(bytes).toString("utf8")),
};

/**
 * Named counters in an agency's own bucket: `next(name)` hands out 1, 2, 3, … each number once,
 * across replicas and restarts (create, then compare-and-set; nothing is kept in memory).
 */
export class Sequences {
  constructor(private readonly store: AggregateStore<number>) {}

  /** The next number of sequence `name` (1 for a new one). */
  async next(name: string): Promise<number> {
    if (await this.store.insert(name, { value: 1, outbox: [] })) return 1;
    const after = await this.store.mutate(name, ({ value }) => ({ value: value + 1, outbox: [] }));
    if (!after) throw new Error(`sequence ${name} vanished`);
    return after.value;
  }
}
