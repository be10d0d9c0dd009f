// The one poll-until helper of the tests: wait on a condition with a generous bound, never sleep-then-count.

export interface WaitOptions {
  /** Poll period; default 10 ms. */
  readonly stepMs?: number;
  /** What was seen, appended to the timeout error (called once, on timeout). */
  readonly detail?: () => string | Promise<string>;
}

/**
 * Polls `predicate` until it holds; returns the elapsed ms. Throws "timed out after N ms waiting for
 * <what>" (plus the detail) when it does not hold within `timeoutMs`. A predicate that throws fails the wait.
 */
export async function waitUntil(
  what: string,
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  options: WaitOptions = {},
): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await predicate()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) {
      const detail = options.detail ? `:\n${await options.detail()}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, options.stepMs ?? 10));
  }
}
