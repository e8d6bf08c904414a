/**
 * The append deadline on Redis's clock (append.lua refuses itself past it), so that an append the
 * gateway answered 503 after its command timeout can never be stored later: a stalled Redis
 * (SIGSTOP, a long fork, a slow script ahead of it) runs what was queued on its socket when it
 * resumes, and without a deadline those events would be stored, and land after the appends their
 * publishers sent later.
 *
 * The deadline is the local send time plus the command timeout, less a reply allowance, moved onto
 * the Redis clock by an offset learned from replies that carry Redis TIME (every append, every
 * readiness probe). Hosts' clocks are never compared directly: a reply received at local time `t1`
 * carrying Redis time `T` was produced no later than `t1`, so `T - t1` is a lower bound of the
 * offset (Redis clock minus ours) whatever the skew. The deadline uses the highest such bound seen
 * recently: on the Redis clock it is never later than the moment our command timeout fires, so a
 * script the deadline lets through ran before the gateway gave up. The error is on the safe side:
 * an append that reached Redis just in time may be refused (answered 503, not stored).
 *
 * What is left: a script that ran before the deadline but whose reply took longer than the
 * allowance to come back is stored and answered 503 (the publisher's retry makes a second copy,
 * the at-least-once risk docs/architecture.md accepts); and a Redis clock stepped backwards (NTP)
 * by more than the allowance can let a late script through until the next samples.
 */

/** Bounds older than this are replaced by the next sample even if it is lower: clocks drift apart (tens of ppm). */
const OFFSET_TTL_MS = 30_000;
/** At most this much of the command timeout is kept for the reply's way back. */
const MAX_REPLY_ALLOWANCE_MS = 100;

export class RedisDeadline {
  private readonly timeoutMs: number;
  private readonly allowanceMs: number;
  /** Lower bound of (Redis clock − local clock), ms; undefined until the first reply with Redis TIME. */
  private offset: number | undefined;
  private offsetAt = 0;

  constructor(commandTimeoutMs: number) {
    this.timeoutMs = commandTimeoutMs;
    this.allowanceMs = Math.min(MAX_REPLY_ALLOWANCE_MS, Math.floor(commandTimeoutMs / 4));
  }

  /** Local wall time, ms, from the monotonic clock: a local NTP step cannot move a deadline. */
  static now(): number {
    return performance.timeOrigin + performance.now();
  }

  get known(): boolean {
    return this.offset !== undefined;
  }

  /** A reply received at local `receivedAt` carried Redis time `redisMs`. */
  sample(redisMs: number, receivedAt: number): void {
    const bound = redisMs - receivedAt;
    if (this.offset === undefined || bound > this.offset || receivedAt - this.offsetAt > OFFSET_TTL_MS) {
      this.offset = bound;
      this.offsetAt = receivedAt;
    }
  }

  /** The Redis-clock ms after which an append sent at local `sentAt` must not be applied; undefined until the offset is known. */
  deadline(sentAt: number): number | undefined {
    if (this.offset === undefined) return undefined;
    return Math.floor(sentAt + this.timeoutMs - this.allowanceMs + this.offset);
  }
}
