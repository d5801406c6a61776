/** Runs `attempt` up to `attempts` times with exponential back-off (capped at 5 s); rethrows the last error. */
export async function retry<T>(
  attempts: number,
  attempt: (n: number) => Promise<T>,
  onFailure?: (err: unknown, n: number, delayMs: number) => void,
  baseDelayMs = 250,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (n >= attempts) throw err;
      const delayMs = Math.min(5000, baseDelayMs * 2 ** (n - 1));
      onFailure?.(err, n, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
