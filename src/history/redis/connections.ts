import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import { connectRedis, isReady, type RedisClient, type RedisConfig } from '../../redis/connect.ts';

/**
 * The log's two connections: `command` for scripts (appends, replay reads, checks, sweeps) and
 * `subscriber` for the one live-fan-out subscription. Separate because a subscribed connection
 * can send nothing but (un)subscribe and ping.
 */
export interface LogConnections {
  readonly client: RedisClient;
  readonly subscriber: RedisClient;
}

export function openConnections(redis: RedisConfig, logger: Logger, metrics: Metrics): LogConnections {
  const onState = (role: string, up: 0 | 1): void => metrics.redisConnected.set({ role }, up);
  return {
    client: connectRedis(redis, 'command', { logger, onState }),
    subscriber: connectRedis(redis, 'subscriber', { logger, onState }),
  };
}

/** Resolves once `client` is ready, at once if it is; rejects if it ends first (the log closed). */
export function waitReady(client: RedisClient): Promise<void> {
  if (isReady(client)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onReady = (): void => {
      client.off('end', onEnd);
      resolve();
    };
    const onEnd = (): void => {
      client.off('ready', onReady);
      reject(new Error('redis connection ended'));
    };
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}

/** QUIT, or a plain disconnect if Redis cannot answer it (it is away): closing never waits on an outage. */
export async function quit(client: RedisClient): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
