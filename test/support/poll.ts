/**
 * Polls `check` every 20 ms until it holds; for state that offers no event to wait on (a
 * metric, a Redis key, a readiness answer). Rejects naming `what` after `timeoutMs`.
 */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
