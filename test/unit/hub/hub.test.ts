import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LoggedEvent } from '../../../src/history/history.ts';
import { Hub, type Delivery, type Subscriber } from '../../../src/hub/hub.ts';
import { encodeEvent } from '../../../src/sse/encode.ts';

function event(seq: number, channel: string): LoggedEvent {
  const id = `e-${seq}`;
  return { seq, id, channel, frame: encodeEvent(id, undefined, `${channel}${seq}`), acceptedAt: 0n };
}

class Recorder implements Subscriber {
  readonly deliveries: Delivery[] = [];
  deliver(delivery: Delivery): void {
    this.deliveries.push(delivery);
  }
  get seqs(): number[][] {
    return this.deliveries.map((d) => d.events.map((e) => e.seq));
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Hub', () => {
  it('delivers nothing synchronously, then one delivery per channel per turn', async () => {
    const hub = new Hub();
    const a = new Recorder();
    hub.subscribe('a', a);
    hub.publish(event(1, 'a'));
    hub.publish(event(2, 'b'));
    hub.publish(event(3, 'a'));
    expect(a.deliveries).toHaveLength(0);
    await nextTurn();
    expect(a.seqs).toEqual([[1, 3]]);
    hub.publish(event(4, 'a'));
    await nextTurn();
    expect(a.seqs).toEqual([[1, 3], [4]]);
  });

  it('encodes a delivery once, as SSE bytes and as one HTTP chunk, shared by every subscriber', async () => {
    const hub = new Hub();
    const first = new Recorder();
    const second = new Recorder();
    hub.subscribe('a', first);
    hub.subscribe('a', second);
    hub.publish(event(1, 'a'));
    hub.publish(event(2, 'a'));
    await nextTurn();
    const [delivery] = first.deliveries;
    expect(second.deliveries[0]).toBe(delivery);
    const sse = 'id: e-1\ndata: a1\n\nid: e-2\ndata: a2\n\n';
    expect(delivery?.frames.toString()).toBe(sse);
    expect(delivery?.chunk.toString()).toBe(`${Buffer.byteLength(sse).toString(16)}\r\n${sse}\r\n`);
    expect(delivery?.frames.buffer).toBe(delivery?.chunk.buffer);
  });

  it('keeps global seq order for a stream of several channels', async () => {
    const hub = new Hub();
    const both = new Recorder();
    hub.subscribe('a', both, 2);
    hub.subscribe('b', both, 2);
    for (const [seq, channel] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'a'],
      [4, 'c'],
      [5, 'b'],
    ] as const)
      hub.publish(event(seq, channel));
    await nextTurn();
    expect(both.seqs.flat()).toEqual([1, 2, 3, 5]);
  });

  it('lets a stream of several channels hold its writes through a flush of several events, and release them once', async () => {
    const hub = new Hub();
    const steps: string[] = [];
    const both = new (class extends Recorder {
      private holding = false;
      override deliver(delivery: Delivery): void {
        steps.push(`deliver ${delivery.events.map((e) => e.seq).join()}${this.holding ? ' (held)' : ''}`);
        super.deliver(delivery);
      }
      gather(): boolean {
        if (this.holding) return false;
        this.holding = true;
        steps.push('gather');
        return true;
      }
      release(): void {
        this.holding = false;
        steps.push('release');
      }
    })();
    hub.subscribe('a', both, 2);
    hub.subscribe('b', both, 2);
    for (const [seq, channel] of [
      [1, 'a'],
      [2, 'b'],
      [3, 'a'],
    ] as const)
      hub.publish(event(seq, channel));
    await nextTurn();
    expect(steps).toEqual(['gather', 'deliver 1 (held)', 'deliver 2 (held)', 'deliver 3 (held)', 'release']);
    // A flush of one event has nothing to gather.
    steps.length = 0;
    hub.publish(event(4, 'b'));
    await nextTurn();
    expect(steps).toEqual(['deliver 4']);
  });

  it('stops delivering after unsubscribe and reports each delivery once with its audience', async () => {
    const seen: Array<[number[], number]> = [];
    const hub = new Hub((delivery, subscribers) => seen.push([delivery.events.map((e) => e.seq), subscribers]));
    const a = new Recorder();
    const b = new Recorder();
    hub.subscribe('x', a);
    hub.subscribe('x', b);
    hub.publish(event(1, 'x'));
    await nextTurn();
    hub.unsubscribe('x', b);
    hub.publish(event(2, 'x'));
    await nextTurn();
    hub.unsubscribe('x', a);
    hub.publish(event(3, 'x'));
    await nextTurn();
    expect(a.seqs).toEqual([[1], [2]]);
    expect(b.seqs).toEqual([[1]]);
    expect(seen).toEqual([
      [[1], 2],
      [[2], 1],
    ]);
    expect(hub.channelCount).toBe(0);
  });
});

describe('Hub coalescing window', () => {
  // Fake clocks: the window is the subject, and a test must not depend on how fast this machine is.
  const useClock = (): void => void vi.useFakeTimers({ toFake: ['setTimeout', 'setImmediate', 'performance'] });
  afterEach(() => void vi.useRealTimers());

  /** A hub with a 1 s window and a subscriber on `a`; one event published on it, then one turn. */
  function firstEventOnWideWindow(): { hub: Hub; a: Recorder } {
    useClock();
    const hub = new Hub(undefined, 1_000);
    const a = new Recorder();
    hub.subscribe('a', a);
    hub.publish(event(1, 'a'));
    vi.advanceTimersByTime(0);
    return { hub, a };
  }

  it('sends an event on a quiet hub on the next turn, however wide the window', () => {
    const { a } = firstEventOnWideWindow();
    expect(a.seqs).toEqual([[1]]);
  });

  it('holds what follows a flush until the window ends, then sends it as one delivery', () => {
    const { hub, a } = firstEventOnWideWindow();
    vi.advanceTimersByTime(10);
    hub.publish(event(2, 'a'));
    hub.publish(event(3, 'a'));
    vi.advanceTimersByTime(980);
    expect(a.seqs).toEqual([[1]]);
    vi.advanceTimersByTime(10);
    expect(a.seqs).toEqual([[1], [2, 3]]);
    // The window runs from the flush that delivered: once it has passed, the next event goes at once.
    vi.advanceTimersByTime(1_000);
    hub.publish(event(4, 'a'));
    vi.advanceTimersByTime(0);
    expect(a.seqs).toEqual([[1], [2, 3], [4]]);
  });

  it('flushes every turn with a window of 0', () => {
    useClock();
    const hub = new Hub(undefined, 0);
    const a = new Recorder();
    hub.subscribe('a', a);
    for (const seq of [1, 2, 3]) {
      hub.publish(event(seq, 'a'));
      vi.advanceTimersByTime(0);
    }
    expect(a.seqs).toEqual([[1], [2], [3]]);
  });
});
