import { describe, expect, it } from 'vitest';
import { testScope } from '../support/scope.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openStream } from '../support/sse-client.ts';

const scope = testScope();

async function scrape(gw: TestGateway): Promise<{ text: string; value: (series: string) => number | undefined; contentType: string | null }> {
  const response = await fetch(`${gw.url}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return { text, value: (series) => values.get(series), contentType: response.headers.get('content-type') };
}

describe('GET /metrics', () => {
  it('counts what happened, with bounded labels only', async () => {
    const gw = await startGateway();
    scope.defer(() => gw.close());
    const secretChannel = 'customer-4711-private';

    const stays = await openStream(`${gw.url}/events/${secretChannel}`);
    scope.defer(() => stays.close());
    const leaves = await openStream(`${gw.url}/events/${secretChannel}`);
    await leaves.waitFor((c) => c.raw().length > 0);
    leaves.close();
    await stays.waitFor((c) => c.raw().length > 0);

    const first = await gw.publish(secretChannel, 'one');
    await gw.publish(secretChannel, 'two');
    await gw.publish('nobody-listens', 'three');
    await stays.waitForEvents(2);

    const resumer = await openStream(`${gw.url}/events/${secretChannel}`, { 'Last-Event-ID': first });
    scope.defer(() => resumer.close());
    await resumer.waitForEvents(1);
    const gapped = await openStream(`${gw.url}/events/${secretChannel}`, { 'Last-Event-ID': 'bogus' });
    scope.defer(() => gapped.close());
    await gapped.waitForEvents(1);

    expect((await gw.publishRaw('{"channel":', {})).status).toBe(400);
    expect((await gw.publishRaw('{}', { Authorization: 'Bearer nope' })).status).toBe(401);
    expect((await fetch(`${gw.url}/events/bad%20channel`)).status).toBe(400);

    const { text, value, contentType } = await scrape(gw);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    await expect.poll(async () => (await scrape(gw)).value('sseg_connections_open')).toBe(3);
    expect(value('sseg_connections_opened_total')).toBe(4);
    expect(value('sseg_connections_closed_total{reason="client"}')).toBe(1);
    expect(value('sseg_events_published_total{ingress="webhook"}')).toBe(3);
    expect(value('sseg_events_delivered_total')).toBe(2);
    expect(value('sseg_events_replayed_total')).toBe(1);
    expect(value('sseg_gaps_total{reason="malformed-id"}')).toBe(1);
    expect(value('sseg_publish_rejected_total{code="SSEG_BAD_JSON"}')).toBe(1);
    expect(value('sseg_publish_rejected_total{code="SSEG_UNAUTHORIZED"}')).toBe(1);
    expect(value('sseg_connections_rejected_total{code="SSEG_BAD_CHANNEL"}')).toBe(1);
    expect(value('sseg_publish_to_write_seconds_count')).toBe(2);
    // One flush per publish: each was awaited, so none could share the other's write.
    expect(value('sseg_fanout_batch_events_count')).toBe(2);
    expect(value('sseg_fanout_batch_events_sum')).toBe(2);
    expect(value('sseg_stream_bytes_total')).toBe(Buffer.byteLength(stays.raw()) - Buffer.byteLength(':ok\nretry: 3000\n\n'));
    expect(value('sseg_stream_buffered_bytes')).toBe(0);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toMatch(/# HELP sseg_publish_to_write_seconds .+/);
    expect(text).not.toContain(secretChannel);
    expect(text).not.toContain('bogus');
  });

  it('can be switched off', async () => {
    const gw = await startGateway({ metrics: { enabled: false } });
    scope.defer(() => gw.close());
    expect((await fetch(`${gw.url}/metrics`)).status).toBe(404);
  });
});
