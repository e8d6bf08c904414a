import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisKeys } from '../../src/redis/keys.ts';
import { startGateway } from '../support/gateway.ts';
import { until } from '../support/poll.ts';
import { startSentinelSet, type TestSentinelSet } from '../support/redis.ts';
import { testScope } from '../support/scope.ts';

/**
 * A planned failover (SENTINEL FAILOVER) while an app publishes steadily. Redis replication is
 * asynchronous, so what the old master acknowledged after the replica was promoted and before the
 * gateway moved over is lost; the gateway moves when Sentinel announces the new master
 * (+switch-master). Measured here, and bounded: the acknowledged events the log lost all fall
 * within a short window after the failover began, instead of the ~11 s until Sentinel cuts clients.
 */
let set: TestSentinelSet;
const scope = testScope();

beforeAll(async () => {
  set = await startSentinelSet();
});
afterAll(() => set.stop());

/** How long after SENTINEL FAILOVER the gateway may still have written to the old master. */
const WINDOW_MS = 4_000;

describe('a Sentinel failover under publishing', () => {
  it('loses acknowledged events only within a bounded window after the failover began', async () => {
    const gw = await startGateway({
      history: { backend: 'redis' },
      redis: { mode: 'sentinel', sentinels: [set.sentinel.address], sentinelName: 'mymaster', commandTimeout: '1s' },
      log: { level: 'silent' },
    });
    scope.defer(() => gw.close());
    const acknowledged: Array<{ data: string; at: number }> = [];
    let failoverAt = Number.POSITIVE_INFINITY;
    let sent = 0;
    const giveUpAt = Date.now() + 40_000;
    // Until 20 events were acknowledged past the window (the gateway is back on the new master), or 40 s.
    const settled = (): boolean => acknowledged.filter((event) => event.at > failoverAt + WINDOW_MS).length >= 20;
    const publishing = (async () => {
      while (Date.now() < giveUpAt && !settled()) {
        const data = `e-${sent++}`;
        const { status } = await gw.publishRaw(JSON.stringify({ channel: 'fo', data }));
        if (status === 200) acknowledged.push({ data, at: Date.now() });
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const key = new RedisKeys('sseg:').stream('fo');
    // A steady state first: the replica has caught up with what the master acknowledged.
    await until(
      async () => acknowledged.length >= 50 && Number(await set.replica.cli('XLEN', key)) >= 50,
      'publishing and replication to be under way',
      10_000,
    );
    failoverAt = Date.now();
    await set.sentinel.cli('SENTINEL', 'FAILOVER', 'mymaster');
    await publishing;
    await until(
      async () => (await set.sentinel.cli('SENTINEL', 'get-master-addr-by-name', 'mymaster')).endsWith(String(set.replica.port)),
      'the failover',
      20_000,
    );

    const entries = (await set.replica.cli('XRANGE', key, '-', '+')).split('\n');
    const kept = new Set(entries.filter((line) => line.startsWith('e-')));
    const lost = acknowledged.filter((event) => !kept.has(event.data));
    const afterFailover = acknowledged.filter((event) => event.at > failoverAt + WINDOW_MS);
    // The gateway came back to publishing on the new master, and kept what it acknowledged there.
    expect(afterFailover.length).toBeGreaterThan(0);
    for (const event of afterFailover) expect(kept.has(event.data), event.data).toBe(true);
    // Whatever was lost was acknowledged inside the window, never before the failover or after it.
    for (const event of lost) {
      expect(event.at, event.data).toBeGreaterThanOrEqual(failoverAt);
      expect(event.at - failoverAt, event.data).toBeLessThanOrEqual(WINDOW_MS);
    }
    console.info(
      `failover: ${acknowledged.length} acknowledged, ${lost.length} lost, last lost ${lost.length === 0 ? '-' : lost[lost.length - 1]!.at - failoverAt} ms after the failover began`,
    );
  }, 90_000);
});
