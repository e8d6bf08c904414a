import { afterEach, describe, expect, it, vi } from 'vitest';
import { Heartbeat } from '../../../src/stream/heartbeat.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('Heartbeat', () => {
  it('beats every member once per period from one timer', () => {
    vi.useFakeTimers();
    const heartbeat = new Heartbeat(15_000);
    const beats = { a: 0, b: 0 };
    heartbeat.add({ beat: () => (beats.a += 1) });
    const b = { beat: () => (beats.b += 1) };
    heartbeat.add(b);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(14_999);
    expect(beats).toEqual({ a: 0, b: 0 });
    vi.advanceTimersByTime(1);
    expect(beats).toEqual({ a: 1, b: 1 });
    heartbeat.remove(b);
    vi.advanceTimersByTime(30_000);
    expect(beats).toEqual({ a: 3, b: 1 });
    heartbeat.stop();
    vi.advanceTimersByTime(60_000);
    expect(beats).toEqual({ a: 3, b: 1 });
    expect(vi.getTimerCount()).toBe(0);
  });
});
