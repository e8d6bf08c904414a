import { connect } from 'node:net';
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
    // One delivery larger than the whole buffer still keeps its newest events, not none of them.
    const oversized = await gw.publishRaw(JSON.stringify({ events: Array.from({ length: 3 * BATCH }, () => ({ channel: 'flood', data: EVENT_DATA })) }));
    expect(oversized.status).toBe(200);
    const newestOfOversized = oversized.body.ids?.at(-1);
    expect(await metric(metrics.bufferedBytes)).toBeLessThanOrEqual(256 * 1024);
    const published = (batches + 6) * BATCH;
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
    expect(slow.events.at(-2)?.id).toBe(newestOfOversized);
    expect(slow.ended).toBe(false);
    await healthy.waitFor((c) => c.events.length === published + 1, 20_000);
    expect(await metric(metrics.slowClientDisconnects)).toBe(0);
  });

  it('replays a long backlog at the pace its client reads, never copying all of it into the socket', async () => {
    const gw = await startGateway({
      // No coalescing window: the last batch's fan-out must be over before the stream subscribes,
      // or that 2 MB would reach it live, outrun its replay and cut it loose before the check.
      streams: { clientBufferBytes: '64kb', slowClient: 'disconnect', coalesce: '0ms' },
      publish: { maxBodyBytes: '2mb' },
      history: { maxEvents: 1_000 },
      log: { level: 'warn' },
    });
    scope.defer(() => gw.close());
    const metrics = gw.gateway.metrics;
    const first = await gw.publish('backlog', 'before');
    // 64 MB of history: far more than the kernel's socket buffers take from a reader that never reads.
    const big = 'y'.repeat(64 * 1024);
    for (let batch = 0; batch < 32; batch += 1) {
      const { status } = await gw.publishRaw(JSON.stringify({ events: Array.from({ length: 30 }, () => ({ channel: 'backlog', data: big })) }));
      expect(status).toBe(200);
    }
    const backlog = 32 * 30;

    const { port } = new URL(gw.url);
    const socket = connect(Number(port), '127.0.0.1');
    scope.defer(() => void socket.destroy());
    socket.pause();
    const buffersBefore = process.memoryUsage().arrayBuffers;
    socket.write(`GET /events/backlog HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nLast-Event-ID: ${first}\r\n\r\n`);
    await expect.poll(() => metric(metrics.connectionsOpen), { timeout: 10_000 }).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Pages wait for 'drain': what the gateway holds for this reader is what its socket took, not
    // the 64 MB backlog copied into one buffer queued on the socket.
    expect(process.memoryUsage().arrayBuffers - buffersBefore).toBeLessThan(24 * 1024 * 1024);
    expect(await metric(metrics.eventsReplayed)).toBe(0);

    // Live events for it are held while it replays, within its bound: past that it is cut loose.
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await publishBatch(gw, 'backlog');
    await expect.poll(() => metric(metrics.slowClientDisconnects), { timeout: 10_000 }).toBe(1);
    socket.resume();
    await closed;

    // A client that reads gets the same backlog whole and in order, page after page, then live.
    const reader = await openStream(`${gw.url}/events/backlog`, { 'Last-Event-ID': first });
    scope.defer(() => reader.close());
    const live = await gw.publish('backlog', 'live');
    await reader.waitFor((c) => c.events.at(-1)?.id === live, 20_000, 'the live event after the backlog');
    const seqs = reader.events.map((e) => Number((e.id ?? '').split('-')[1]));
    expect(seqs).toHaveLength(backlog + BATCH + 1);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(reader.events.slice(0, backlog).every((e) => e.data === big)).toBe(true);
    expect(await metric(metrics.eventsReplayed)).toBe(backlog + BATCH);
  });
});
