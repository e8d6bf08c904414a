import type { Config } from '../config/schema.ts';

/**
 * What the cluster primary and its workers say to each other over node:cluster's IPC channel.
 * Events never travel here: workers are gateway instances sharing the Redis log, as separate
 * hosts would. This is only start-up, shutdown and the one question only the primary can
 * answer (every worker's metrics, summed). Types start with `sseg:` so they never collide with
 * prom-client's own cluster messages on the same channel.
 */
export type ToWorker =
  | { readonly type: 'sseg:config'; readonly config: Config; readonly index: number }
  | { readonly type: 'sseg:shutdown' }
  | { readonly type: 'sseg:metrics'; readonly requestId: number; readonly text?: string; readonly error?: string };

export type ToPrimary = { readonly type: 'sseg:listening'; readonly url: string } | { readonly type: 'sseg:metrics-request'; readonly requestId: number };

/** The message types are ours alone, so a type check is enough to tell them from others on the channel. */
export function isMessage<T extends { type: string }>(message: unknown, type: T['type']): message is T {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type;
}
