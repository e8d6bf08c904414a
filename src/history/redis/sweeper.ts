import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { RedisClient } from '../../redis/connect.ts';
import type { RedisKeys } from '../../redis/keys.ts';
import { sweepPeriod } from '../bounds.ts';
import { errorInfo } from './failure.ts';
import type { LogScripts } from './scripts.ts';

export interface SweeperOptions {
  readonly client: RedisClient;
  readonly scripts: LogScripts;
  readonly keys: RedisKeys;
  readonly maxAgeMs: number;
  readonly maxChannels: number;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/**
 * Keeps what idle channels cost bounded. Appends trim only the channel they write, so without
 * this an idle channel would keep its last maxEvents entries forever. A Redis key TTL was refused:
 * an expired stream takes with it the knowledge of how far it went, and the gap would no longer
 * be exact. Every instance runs it: each step is an idempotent script.
 */
export class Sweeper {
  private readonly options: SweeperOptions;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: SweeperOptions) {
    this.options = options;
  }

  start(): void {
    // Jittered so a fleet started together does not scan in step.
    this.timer = setTimeout(
      () => {
        void this.sweep()
          .then(
            (removed) => {
              if (removed > 0) this.options.logger.debug({ removed }, 'swept aged events from idle channels');
            },
            (error: unknown) => {
              this.options.metrics.redisCommandsFailed.inc({ op: 'sweep' });
              this.options.logger.debug({ err: errorInfo(error) }, 'sweep failed; next round will retry');
            },
          )
          .finally(() => {
            if (!this.stopped) this.start();
          });
      },
      sweepPeriod(this.options.maxAgeMs) * (0.5 + Math.random()),
    );
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * Trims every channel stream by age, and deletes streams left empty, keeping their trimmed-through
   * marks (sweep.lua). Then keeps the trimmed hash to maxChannels marks (forget). Returns entries removed.
   */
  async sweep(): Promise<number> {
    const { client, keys, scripts } = this.options;
    let removed = 0;
    let evicted = 0;
    const nodes = 'nodes' in client ? client.nodes('master') : [client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, found] = await node.scan(cursor, 'MATCH', keys.streamPattern, 'COUNT', 1000);
        cursor = next;
        for (const key of found) {
          const [aged, over] = await scripts.sweep(key);
          removed += aged;
          evicted += over;
        }
      } while (cursor !== '0' && !this.stopped);
    }
    if (evicted > 0) this.options.logger.debug({ evicted }, 'evicted the least recently appended channel streams beyond history.maxChannels');
    const forgotten = await this.forget();
    if (forgotten > 0) this.options.logger.debug({ forgotten }, 'folded the trimmed-through marks of long-gone channels into one');
    return removed;
  }

  /**
   * Removes trimmed-through marks beyond maxChannels, lowest seq first, of channels with no stream
   * left (forget.lua says why that keeps gaps safe). Without it the hash gains a field per
   * channel ever trimmed and never loses one. Reads every mark to sort them: bounded, since the
   * hash is kept near maxChannels, and only when it is over.
   */
  private async forget(): Promise<number> {
    const { client, keys, scripts, maxChannels } = this.options;
    const excess = (await client.hlen(keys.trimmed)) - maxChannels;
    if (excess <= 0) return 0;
    const marks: Array<{ channel: string; seq: number }> = [];
    let cursor = '0';
    do {
      const [next, flat] = await client.hscan(keys.trimmed, cursor, 'COUNT', 1000);
      cursor = next;
      for (let index = 0; index + 1 < flat.length; index += 2) marks.push({ channel: flat[index] as string, seq: Number(flat[index + 1]) });
    } while (cursor !== '0' && !this.stopped);
    marks.sort((a, b) => a.seq - b.seq);
    let removed = 0;
    for (let start = 0; start < marks.length && removed < excess && !this.stopped; start += 100) {
      const batch = marks.slice(start, start + 100);
      removed += await scripts.forget(
        batch.map((mark) => mark.channel),
        excess - removed,
      );
    }
    return removed;
  }
}
