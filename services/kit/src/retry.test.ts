import { retry } from "./retry";

describe("retry", () => {
  it("returns the first success", async () => {
    let calls = 0;
    await expect(retry(3, () => (++calls < 2 ? Promise.reject(new Error("not yet")) : Promise.resolve("ok")), undefined, 1)).resolves.toBe("ok");
    expect(calls).toBe(2);
  });

  it("rethrows the last error after the last attempt", async () => {
    const failures: number[] = [];
    await expect(retry(3, (n) => Promise.reject(new Error(`attempt ${n}`)), (_e, n) => failures.push(n), 1)).rejects.toThrow("attempt 3");
    expect(failures).toEqual([1, 2]);
  });
});
