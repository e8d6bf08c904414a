import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LoggedEvent, ReplayItem } from '../../../src/history/history.ts';
import { MemoryHistory } from '../../../src/history/memory.ts';
import { registerHistoryContract } from './contract.ts';

const open: MemoryHistory[] = [];
function history(options: Partial<{ maxEvents: number; maxAgeMs: number; maxChannels: number }> = {}): MemoryHistory {
  const log = new MemoryHistory({ maxEvents: 100, maxAgeMs: 3_600_000, maxChannels: 1000, ...options });
  open.push(log);
  return log;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((log) => log.close()));
});

const describeItems = (items: readonly ReplayItem[]): string[] =>
  items.map((item) => (item.event ? `${item.event.channel}:${item.event.seq}` : `gap(${item.gap.reason}@${item.gap.seq}:${item.gap.channels.join('+')})`));

async function publish(log: MemoryHistory, ...channels: string[]): Promise<LoggedEvent[]> {
  return log.append(channels.map((channel, index) => ({ channel, data: `d${index}` })));
}

registerHistoryContract('memory', { open: (bounds) => Promise.resolve(new MemoryHistory(bounds)) });

describe('MemoryHistory', () => {
  it('numbers every channel from one sequence and encodes each event once', async () => {
    const log = history();
    const events = await publish(log, 'a', 'b', 'a');
    expect(events.map((event) => event.seq)).toEqual([1, 2, 3]);
    expect(events.map((event) => event.id)).toEqual([`${log.epoch}-1`, `${log.epoch}-2`, `${log.epoch}-3`]);
    expect(events[1]?.frame.toString()).toBe(`id: ${log.epoch}-2\ndata: d1\n\n`);
  });

  it('tells listeners about a batch only once all of it is in the log', async () => {
    const log = history();
    const seen: string[] = [];
    log.onEvent((event) => {
      seen.push(`${event.seq}`);
      // A reader woken by the first event of a batch already sees the whole batch.
      void log.replay(['a'], `${log.epoch}-0`).then((items) => seen.push(`replay@${event.seq}:${items.length}`));
    });
    await publish(log, 'a', 'a', 'a');
    await Promise.resolve();
    expect(seen.slice(0, 3)).toEqual(['1', '2', '3']);
    expect(seen.filter((entry) => entry.startsWith('replay'))).toEqual(['replay@1:3', 'replay@2:3', 'replay@3:3']);
  });

  it('replays exactly the events after the cursor, on the asked channels, in order', async () => {
    const log = history();
    await publish(log, 'a', 'b', 'a', 'c', 'b', 'a');
    expect(describeItems(await log.replay(['a'], `${log.epoch}-1`))).toEqual(['a:3', 'a:6']);
    expect(describeItems(await log.replay(['a', 'b'], `${log.epoch}-2`))).toEqual(['a:3', 'b:5', 'a:6']);
    expect(describeItems(await log.replay(['a', 'b', 'c'], `${log.epoch}-6`))).toEqual([]);
    expect(describeItems(await log.replay(['never'], `${log.epoch}-0`))).toEqual([]);
  });

  it('reports a trimmed window as a gap placed where the loss is, then what remains', async () => {
    const log = history({ maxEvents: 2 });
    await publish(log, 'a', 'a', 'a', 'a');
    expect(describeItems(await log.replay(['a'], `${log.epoch}-0`))).toEqual(['gap(trimmed@2:a)', 'a:3', 'a:4']);
    // Resuming from the gap's own id is exact: no second gap.
    const [gap] = await log.replay(['a'], `${log.epoch}-0`);
    expect(gap?.gap?.id).toBe(`${log.epoch}-2`);
    expect(describeItems(await log.replay(['a'], `${log.epoch}-2`))).toEqual(['a:3', 'a:4']);
  });

  it("keeps other channels exact around one channel's gap in a multi-channel replay", async () => {
    const log = history({ maxEvents: 2 });
    // seq: a1 b2 a3 a4 a5 b6 → a keeps 4,5 (evicted through 3), b keeps 2,6.
    await publish(log, 'a', 'b', 'a', 'a', 'a', 'b');
    expect(describeItems(await log.replay(['a', 'b'], `${log.epoch}-0`))).toEqual(['b:2', 'gap(trimmed@3:a)', 'a:4', 'a:5', 'b:6']);
  });

  it('does not report a gap when the cursor is at or past what was evicted', async () => {
    const log = history({ maxEvents: 1 });
    await publish(log, 'a', 'a');
    expect(describeItems(await log.replay(['a'], `${log.epoch}-1`))).toEqual(['a:2']);
  });

  it('answers an id from another epoch with a gap where this log began, then everything it holds', async () => {
    const log = history();
    await publish(log, 'a', 'b', 'a');
    expect(describeItems(await log.replay(['a'], 'zzzz-1'))).toEqual(['gap(epoch-changed@0:a)', 'a:1', 'a:3']);
    const [gap] = await log.replay(['a', 'b'], 'zzzz-7');
    expect(gap?.gap).toMatchObject({ reason: 'epoch-changed', id: `${log.epoch}-0`, channels: ['a', 'b'] });
  });

  it('answers a malformed id and a future id with a gap at the head', async () => {
    const log = history();
    await publish(log, 'a', 'a');
    expect(describeItems(await log.replay(['a'], 'garbage'))).toEqual(['gap(malformed-id@2:a)']);
    expect(describeItems(await log.replay(['a'], `${log.epoch}-99`))).toEqual(['gap(unknown-id@2:a)']);
    const [gap] = await log.replay(['a'], 'garbage');
    expect(gap?.gap?.id).toBe(`${log.epoch}-2`);
  });

  it('expires events older than maxAge, and says so', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
    const log = history({ maxAgeMs: 60_000 });
    await publish(log, 'a');
    vi.advanceTimersByTime(30_000);
    await publish(log, 'a');
    vi.advanceTimersByTime(40_000);
    expect(describeItems(await log.replay(['a'], `${log.epoch}-0`))).toEqual(['gap(trimmed@1:a)', 'a:2']);
  });

  it('forgets the least recently published channels beyond maxChannels, and gaps on them', async () => {
    const log = history({ maxChannels: 2 });
    await publish(log, 'old', 'mid', 'old', 'new');
    // 'mid' (seq 2) was published least recently when 'new' arrived.
    expect(describeItems(await log.replay(['mid'], `${log.epoch}-0`))).toEqual(['gap(trimmed@2:mid)']);
    expect(describeItems(await log.replay(['old', 'new'], `${log.epoch}-0`))).toEqual(['old:1', 'old:3', 'new:4']);
    // A forgotten channel that is published again still owes its gap to a cursor from before.
    await publish(log, 'mid');
    expect(describeItems(await log.replay(['mid'], `${log.epoch}-0`))).toEqual(['gap(trimmed@2:mid)', 'mid:5']);
  });

  it('keeps a bounded window however many events pass', async () => {
    const log = history({ maxEvents: 10 });
    for (let i = 0; i < 5_000; i += 1) await publish(log, 'a');
    const items = await log.replay(['a'], `${log.epoch}-0`);
    expect(items).toHaveLength(11);
    expect(describeItems(items)[0]).toBe('gap(trimmed@4990:a)');
  });
});
