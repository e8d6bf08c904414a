import { GatewayError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { connectRedis, type RedisClient, type RedisConfig } from '../redis/connect.ts';
import { outsideWindow, type SignatureReplayGuard } from './signature-replay.ts';

export interface RedisGuardOptions {
  /** `publish.hmacTolerance`. */
  readonly toleranceMs: number;
  /** Prepended to each signature to name its key, e.g. `<redis.keyPrefix>sig:`. */
  readonly keyPrefix: string;
  readonly now?: () => number;
}

/**
 * Used signatures shared by every instance through Redis: `SET <prefix><signature> 1 NX PX <ttl>`
 * is atomic on the server, so of two instances handed one signed request at the same moment
 * exactly one is told "first". One key per signature, no hash tag: single-key commands need no
 * shared slot, and in a Cluster the keys spread over every shard.
 *
 * The key lives as long as this instance could accept the timestamp (timestamp + tolerance)
 * plus one tolerance more, so another instance whose clock runs up to a tolerance behind still
 * finds it; Redis expires it, nothing here sweeps. Redis unreachable is a 503, never a signature
 * accepted twice.
 */
export class RedisSignatureReplayGuard implements SignatureReplayGuard {
  private readonly client: RedisClient;
  private readonly toleranceMs: number;
  private readonly keyPrefix: string;
  private readonly now: () => number;

  constructor(config: RedisConfig, options: RedisGuardOptions, logger: Logger) {
    this.client = connectRedis(config, 'command', { logger });
    this.toleranceMs = options.toleranceMs;
    this.keyPrefix = options.keyPrefix;
    this.now = options.now ?? Date.now;
  }

  async remember(signatureHex: string, timestampMs: number): Promise<boolean> {
    const now = this.now();
    if (Math.abs(now - timestampMs) > this.toleranceMs) throw outsideWindow();
    const ttl = timestampMs + this.toleranceMs - now + this.toleranceMs;
    const answer = await this.run(() => this.client.set(this.keyPrefix + signatureHex, '1', 'PX', Math.max(1, ttl), 'NX'));
    return answer === 'OK';
  }

  async forget(signatureHex: string): Promise<void> {
    await this.run(() => this.client.del(this.keyPrefix + signatureHex));
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch {
      throw new GatewayError('SSEG_UNAVAILABLE', 'signed publishes cannot be checked against replay right now (shared store unreachable); retry later', {
        'Retry-After': '2',
      });
    }
  }
}
