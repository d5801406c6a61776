/** Calls `op` repeatedly for `seconds` and returns operations per second. */
export async function rate(op: () => unknown, seconds: number): Promise<number> {
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let count = 0;
  while (process.hrtime.bigint() < end) {
    const result = op();
    if (result instanceof Promise) await result;
    count++;
  }
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}
