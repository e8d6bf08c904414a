import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../logger.ts';

export type RedisClient = Redis | Cluster;
export type RedisConfig = Config['redis'];

/**
 * What a connection is for; also the bounded label of the connection-state metric.
 * `command`: appends and replay reads; `subscriber`: the one live-fan-out subscription;
 * `pubsub-ingress` / `streams-ingress`: a bridge's own subscription or blocking read.
 */
export type RedisRole = 'command' | 'subscriber' | 'pubsub-ingress' | 'streams-ingress';

export interface ConnectHooks {
  readonly logger: Logger;
  /** Called with 1 when the connection is ready, 0 when it is lost. */
  readonly onState?: (role: RedisRole, up: 0 | 1) => void;
}

/** Reconnect delay: doubling from 50 ms, capped at 2 s, with jitter so a fleet does not reconnect in step. */
export function backoff(times: number): number {
  return Math.min(50 * 2 ** Math.min(times, 6), 2_000) + Math.floor(Math.random() * 100);
}

/**
 * One ioredis connection for `role`, in the mode the config names (standalone, Sentinel or
 * Cluster). Every connection gets an 'error' listener here, so a Redis outage is logged and
 * retried, never an unhandled 'error' event that ends the process.
 */
export function connectRedis(config: RedisConfig, role: RedisRole, hooks: ConnectHooks): RedisClient {
  const url = new URL(config.url);
  const common: RedisOptions & { replyMapping: 'legacy' } = {
    // RESP2 on the wire: XREAD and script replies keep their long-standing array shapes (RESP3
    // sends maps), and a subscriber connection is a plain Pub/Sub connection on every server version.
    protocol: 2,
    replyMapping: 'legacy',
    connectionName: `sse-gateway:${role}`,
    // A command whose reply was lost must not be sent again on reconnect: an append could land twice.
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: role === 'command' ? 0 : null,
    // Blocking reads (XREAD BLOCK) on ingress connections wait longer than any command timeout.
    ...(role === 'command' ? { commandTimeout: config.commandTimeout } : {}),
    connectTimeout: 5_000,
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: { servername: url.hostname } } : {}),
    db: Number(url.pathname.slice(1) || '0'),
  };

  // Fail fast while Redis is away: publish answers 503 at once instead of queueing without bound.
  // Subscribers queue their (re)subscription until the connection is back.
  const enableOfflineQueue = role !== 'command';
  let client: RedisClient;
  if (config.mode === 'cluster') {
    const options: ClusterOptions & { redisOptions: typeof common } = {
      redisOptions: common,
      enableOfflineQueue,
      clusterRetryStrategy: backoff,
      // The fan-out subscription uses sharded Pub/Sub (SSUBSCRIBE): one connection per shard owner.
      shardedSubscribers: role !== 'command',
    };
    client = new Cluster(config.nodes.map(parseAddress), options);
  } else if (config.mode === 'sentinel') {
    // failoverDetector: ioredis subscribes to the Sentinels' +switch-master and moves to the new
    // master when it is announced (about a second after promotion), instead of writing to the old
    // one until Sentinel cuts its clients (about 11 s measured), whose writes the failover discards.
    client = new Redis({
      ...common,
      enableOfflineQueue,
      retryStrategy: backoff,
      sentinels: config.sentinels.map(parseAddress),
      name: config.sentinelName,
      sentinelRetryStrategy: backoff,
      failoverDetector: true,
    });
  } else {
    client = new Redis({ ...common, enableOfflineQueue, retryStrategy: backoff, host: url.hostname || '127.0.0.1', port: Number(url.port || '6379') });
  }

  const logger = hooks.logger.child({ redis: role });
  let up = false;
  // Down until the first 'ready': a Redis that is unreachable from the start shows as 0, not as no sample.
  hooks.onState?.(role, 0);
  client.on('ready', () => {
    up = true;
    hooks.onState?.(role, 1);
    logger.info('redis connection ready');
  });
  client.on('error', (error: Error) => {
    // ioredis reconnects by itself; this listener exists so the error is logged instead of thrown.
    logger.warn({ err: { message: error.message, code: (error as NodeJS.ErrnoException).code } }, 'redis connection error');
  });
  client.on('close', () => {
    if (!up) return;
    up = false;
    hooks.onState?.(role, 0);
    logger.warn('redis connection lost; reconnecting');
  });
  return client;
}

/** True when commands can be sent now. */
export function isReady(client: RedisClient): boolean {
  return client.status === 'ready';
}

function parseAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}
