import { KeyedLock } from "./keyed-lock";

describe("KeyedLock", () => {
  it("runs work of one key one at a time, in order, and other keys alongside", async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const step = (name: string, ms: number) => () => new Promise<string>((resolve) => setTimeout(() => { log.push(name); resolve(name); }, ms));
    const results = await Promise.all([lock.run("a", step("a1", 30)), lock.run("a", step("a2", 1)), lock.run("b", step("b1", 5))]);
    expect(results).toEqual(["a1", "a2", "b1"]);
    expect(log).toEqual(["b1", "a1", "a2"]);
  });

  it("goes on after a failure", async () => {
    const lock = new KeyedLock();
    await expect(lock.run("k", () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(lock.run("k", () => Promise.resolve(2))).resolves.toBe(2);
  });
});
