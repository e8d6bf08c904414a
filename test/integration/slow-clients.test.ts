import type { Counter, Gauge } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { testScope } from '../support/scope.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

const scope = testScope();

async function metric(m: Counter | Gauge): Promise<number> {
  return (await m.get()).values.reduce((sum, v) => sum + v.value, 0);
}

const EVENT_DATA = 'x'.repeat(16 * 1024);
const BATCH = 8;
const MAX_BATCHES = 600;

/**
 * 128 KB per call: half a client buffer, so a client that reads keeps up with every burst,
 * while a paused one fills its kernel socket buffers and then its gateway buffer.
 */
async function publishBatch(gw: TestGateway, channel: string): Promise<void> {
  const { status } = await gw.publishRaw(JSON.stringify({ events: Array.from({ length: BATCH }, () => ({ channel, data: EVENT_DATA })) }));
  expect(status).toBe(200);
}

async function setup(slowClient: 'disconnect' | 'drop-oldest'): Promise<{ gw: TestGateway; slow: StreamClient; healthy: StreamClient }> {
  const gw = await startGateway({
    streams: { clientBufferBytes: '256kb', slowClient },
    publish: { maxBodyBytes: '2mb' },
    history: { maxEvents: 5 },
    log: { level: 'warn' },
  });
  scope.defer(() => gw.close());
  const slow = await openStream(`${gw.url}/events/flood`);
  const healthy = await openStream(`${gw.url}/events/flood`);
  scope.defer(() => slow.close());
  scope.defer(() => healthy.close());
  await slow.waitFor((c) => c.raw().length > 0);
  await healthy.waitFor((c) => c.raw().length > 0);
  slow.pause();
  return { gw, slow, healthy };
}

describe('a client that stops reading', () => {
  it('is disconnected under `disconnect` once its buffer overflows, while others get everything', async () => {
    const { gw, healthy } = await setup('disconnect');
    const metrics = gw.gateway.metrics;
    let batches = 0;
    while ((await metric(metrics.slowClientDisconnects)) === 0 && batches < MAX_BATCHES) {
      await publishBatch(gw, 'flood');
      batches += 1;
      // The waiting queue of the one slow stream never exceeds its configured bound.
      expect(await metric(metrics.bufferedBytes)).toBeLessThanOrEqual(256 * 1024);
    }
    expect(await metric(metrics.slowClientDisconnects)).toBe(1);
    const published = batches * BATCH;
    await healthy.waitFor((c) => c.events.length === published, 20_000, `${published} events`);
    expect(new Set(healthy.events.map((e) => e.id)).size).toBe(published);
    expect(healthy.ended).toBe(false);
    await expect.poll(() => metric(metrics.connectionsOpen)).toBe(1);
    expect((await metrics.connectionsClosed.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'slow' }, value: 1 })]);
    expect(await metric(metrics.bufferedBytes)).toBe(0);
  });

  it('keeps the newest events under `drop-oldest` and says what it dropped with a gap', async () => {
    const { gw, slow, healthy } = await setup('drop-oldest');
    const metrics = gw.gateway.metrics;
    let batches = 0;
    while ((await metric(metrics.slowClientDrops)) === 0 && batches < MAX_BATCHES) {
      await publishBatch(gw, 'flood');
      batches += 1;
      expect(await metric(metrics.bufferedBytes)).toBeLessThanOrEqual(256 * 1024);
    }
    for (let i = 0; i < 3; i += 1) await publishBatch(gw, 'flood');
    expect(await metric(metrics.bufferedBytes)).toBeLessThanOrEqual(256 * 1024);
    const published = (batches + 3) * BATCH;
    const last = await gw.publish('flood', 'the newest');

    slow.resume();
    await slow.waitFor((c) => c.events.some((e) => e.data === 'the newest'), 20_000, 'the newest event');
    const gaps = slow.events.filter((e) => e.event === 'gap');
    expect(gaps.length).toBeGreaterThanOrEqual(1);
    const gap = JSON.parse(gaps[0]?.data ?? '{}') as { reason: string; dropped: number; channels: string[] };
    expect(gap).toMatchObject({ reason: 'slow-client', channels: ['flood'] });
    expect(gap.dropped).toBeGreaterThan(0);
    const received = slow.events.filter((e) => e.event !== 'gap');
    const dropped = gaps.reduce((sum, g) => sum + (JSON.parse(g.data) as { dropped: number }).dropped, 0);
    // Every event is either received or accounted for in a gap: nothing vanishes silently.
    expect(received.length + dropped).toBe(published + 1);
    const seqs = slow.events.map((e) => Number((e.id ?? '').split('-')[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(slow.events.at(-1)?.id).toBe(last);
    expect(slow.ended).toBe(false);
    await healthy.waitFor((c) => c.events.length === published + 1, 20_000);
    expect(await metric(metrics.slowClientDisconnects)).toBe(0);
  });
});
