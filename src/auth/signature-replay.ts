import { GatewayError } from '../errors.ts';

/**
 * Remembers the HMAC signatures already used, so a captured signed publish cannot publish twice
 * while its timestamp is still inside `publish.hmacTolerance` (src/auth/hmac.ts refuses it once
 * it is older). A signature covers `<timestamp>.<body>`, so one signature always comes with one
 * timestamp: the timestamp says how long the signature must be remembered, and no longer.
 *
 * Two implementations: this process's memory (below) and Redis (signature-replay-redis.ts), for
 * when several instances share the log through Redis and a request replayed to another
 * instance must be refused too. Both refuse rather than guess: a full memory or an unreachable
 * Redis is a 503, never a signature accepted twice.
 */
export interface SignatureReplayGuard {
  /** True the first time a signature is seen; false when it was seen before (a replay). */
  remember(signatureHex: string, timestampMs: number): Promise<boolean>;
  /** Lets a signature be used again: its publish was refused before anything was stored, so the app's retry must pass. */
  forget(signatureHex: string): Promise<void>;
  close(): Promise<void>;
}

/** Signatures held at most by one process: ~150 bytes each, so about 15 MB when full. */
export const DEFAULT_MAX_SIGNATURES = 100_000;

export interface MemoryGuardOptions {
  /** `publish.hmacTolerance`, the same window the verifier accepts timestamps in. */
  readonly toleranceMs: number;
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/** The verifier's own refusal (src/auth/hmac.ts), for a timestamp it would not have accepted. */
export function outsideWindow(): GatewayError {
  return new GatewayError('SSEG_SIGNATURE_EXPIRED', 'the signature timestamp is too far from the gateway clock; sign again with the current time');
}

function signaturesFull(): GatewayError {
  return new GatewayError('SSEG_SIGNATURES_FULL', 'too many signed publishes within the signature tolerance to guard them against replay; retry shortly');
}

/**
 * One process's used signatures, bounded. A signature is held until its timestamp plus the
 * tolerance: after that the verifier refuses the timestamp anyway (same clock, same window), so
 * forgetting it then is safe and forgetting it earlier never is. A timestamp outside that window
 * is refused here as the verifier would (401 SSEG_SIGNATURE_EXPIRED), so the guard never depends
 * on being asked only about good ones. When `maxEntries` unexpired
 * signatures are held, new ones are refused with 503 (the publisher retries) instead of evicting
 * one that could still be replayed.
 *
 * Held in buckets by expiry instant: timestamps are whole seconds, so a 5-minute tolerance makes
 * at most ~600 buckets, and dropping the expired ones is a walk over buckets, not signatures. The
 * walk happens only once the earliest bucket is due, so a publish usually costs one Map lookup.
 */
export class MemorySignatureReplayGuard implements SignatureReplayGuard {
  private readonly toleranceMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** Expiry instant (ms) → signatures that stop being acceptable then. */
  private readonly byExpiry = new Map<number, Set<string>>();
  private count = 0;
  /** The earliest expiry held; Infinity when empty. Nothing needs sweeping before it. */
  private nextExpiry = Number.POSITIVE_INFINITY;

  constructor(options: MemoryGuardOptions) {
    this.toleranceMs = options.toleranceMs;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_SIGNATURES;
    this.now = options.now ?? Date.now;
  }

  /** Signatures held that can still be replayed (for a gauge): expired ones are dropped first. */
  get size(): number {
    this.sweep(this.now());
    return this.count;
  }

  get capacity(): number {
    return this.maxEntries;
  }

  remember(signatureHex: string, timestampMs: number): Promise<boolean> {
    const now = this.now();
    // Outside the window the verifier accepts: holding it would be either useless or unbounded.
    if (Math.abs(now - timestampMs) > this.toleranceMs) return Promise.reject(outsideWindow());
    this.sweep(now);
    const expiresAt = timestampMs + this.toleranceMs;
    let bucket = this.byExpiry.get(expiresAt);
    if (bucket?.has(signatureHex) === true) return Promise.resolve(false);
    if (this.count >= this.maxEntries) return Promise.reject(signaturesFull());
    if (bucket === undefined) {
      bucket = new Set();
      this.byExpiry.set(expiresAt, bucket);
      if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
    }
    bucket.add(signatureHex);
    this.count += 1;
    return Promise.resolve(true);
  }

  forget(signatureHex: string): Promise<void> {
    // Rare (a publish refused after the check), so a walk over the buckets is fine.
    for (const [expiresAt, bucket] of this.byExpiry) {
      if (!bucket.delete(signatureHex)) continue;
      this.count -= 1;
      if (bucket.size === 0) this.byExpiry.delete(expiresAt);
      break;
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.byExpiry.clear();
    this.count = 0;
    this.nextExpiry = Number.POSITIVE_INFINITY;
    return Promise.resolve();
  }

  /** Drops every bucket whose instant has passed: the verifier refuses those timestamps now. */
  private sweep(now: number): void {
    if (now <= this.nextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [expiresAt, bucket] of this.byExpiry) {
      if (expiresAt < now) {
        this.count -= bucket.size;
        this.byExpiry.delete(expiresAt);
      } else if (expiresAt < next) {
        next = expiresAt;
      }
    }
    this.nextExpiry = next;
  }
}
