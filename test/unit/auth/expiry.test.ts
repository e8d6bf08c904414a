import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExpiryClock } from '../../../src/auth/expiry.ts';

describe('ExpiryClock', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const item = (log: string[], name: string) => ({ expire: () => log.push(name) });

  it('ends each item at its own expiry, earliest first, with one timer', () => {
    const clock = new ExpiryClock();
    const log: string[] = [];
    clock.add(item(log, 'late'), Date.now() + 3_000);
    clock.add(item(log, 'early'), Date.now() + 1_000);
    clock.add(item(log, 'middle'), Date.now() + 2_000);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(999);
    expect(log).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(log).toEqual(['early']);
    vi.advanceTimersByTime(2_000);
    expect(log).toEqual(['early', 'middle', 'late']);
    expect(clock.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('forgets an item removed before its expiry (the stream closed first)', () => {
    const clock = new ExpiryClock();
    const log: string[] = [];
    const gone = item(log, 'gone');
    clock.add(gone, Date.now() + 1_000);
    clock.add(item(log, 'kept'), Date.now() + 2_000);
    clock.remove(gone);
    vi.advanceTimersByTime(5_000);
    expect(log).toEqual(['kept']);
  });

  it('keeps heap order through many adds and removes', () => {
    const clock = new ExpiryClock();
    const log: number[] = [];
    const items = Array.from({ length: 200 }, (_, i) => ({ at: ((i * 7919) % 200) * 10 + 10, expire: () => log.push(i) }));
    for (const entry of items) clock.add(entry, Date.now() + entry.at);
    for (const entry of items.filter((_, i) => i % 3 === 0)) clock.remove(entry);
    vi.advanceTimersByTime(3_000);
    const expected = items.filter((_, i) => i % 3 !== 0).sort((a, b) => a.at - b.at);
    expect(log.map((i) => items[i]?.at)).toEqual(expected.map((entry) => entry.at));
  });

  it('re-arms for an item earlier than the one it waits for', () => {
    const clock = new ExpiryClock();
    const log: string[] = [];
    clock.add(item(log, 'hour'), Date.now() + 3_600_000);
    clock.add(item(log, 'second'), Date.now() + 1_000);
    vi.advanceTimersByTime(1_000);
    expect(log).toEqual(['second']);
    clock.stop();
    vi.advanceTimersByTime(3_600_000);
    expect(log).toEqual(['second']);
  });
});
