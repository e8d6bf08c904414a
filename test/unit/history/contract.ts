import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryBounds } from '../../../src/history/bounds.ts';
import type { EventInput, History, LoggedEvent, ReplayItem } from '../../../src/history/history.ts';
import { until } from '../../support/poll.ts';

/**
 * The contract every `History` backend keeps, registered once per backend (eventsource's
 * `registerTests()`): memory.test.ts and redis.test.ts each call `registerHistoryContract` with a
 * factory. What a backend may do its own way (when onEvent fires, where a gap that may not be
 * needed stands) is asserted as the bound both keep, not as one backend's answer.
 */
export interface HistoryBackend {
  /** A started, empty log with these bounds, reading time from `bounds.now`. The contract closes it. */
  open(bounds: HistoryBounds & { readonly now: () => number }): Promise<History>;
}

/** A clock the test moves: no sleeping, no wall-clock assertion. */
class TestClock {
  time = 1_700_000_000_000;
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}

/** An id from no log this gateway could have: longer than any epoch newEpoch() makes. */
const FOREIGN_EPOCH = 'zzzzzzzzzzzzzzzz';

const describeItems = (items: readonly ReplayItem[]): string[] =>
  items.map((item) => (item.event ? `${item.event.channel}:${item.event.seq}` : `gap(${item.gap.reason}@${item.gap.seq}:${item.gap.channels.join('+')})`));

const epochOf = (event: LoggedEvent | undefined): string => (event?.id ?? '').slice(0, (event?.id ?? '').lastIndexOf('-'));

export function registerHistoryContract(name: string, backend: HistoryBackend): void {
  describe(`History contract: ${name}`, () => {
    const opened: History[] = [];
    let clock: TestClock;

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((log) => log.close()));
    });

    async function open(bounds: Partial<Omit<HistoryBounds, 'now'>> = {}): Promise<History> {
      clock = new TestClock();
      const log = await backend.open({ maxEvents: 100, maxAgeMs: 3_600_000, maxChannels: 1000, ...bounds, now: clock.now });
      opened.push(log);
      return log;
    }

    /** One event per channel named, in one batch; data `d<index>`. */
    const publish = (log: History, ...channels: string[]): Promise<LoggedEvent[]> =>
      log.append(channels.map((channel, index) => ({ channel, data: `d${index}` })));

    /** Every event the log tells its listeners of, in the order it tells them. */
    function listen(log: History): LoggedEvent[] {
      const heard: LoggedEvent[] = [];
      log.onEvent((event) => heard.push(event));
      return heard;
    }

    it('numbers events of every channel from one sequence under one epoch, and frames them for the wire', async () => {
      const log = await open();
      const first = await publish(log, 'a', 'b', 'a');
      const [named] = await log.append([{ channel: 'c', event: 'named', data: 'line 1\nline 2' }]);
      const epoch = epochOf(first[0]);
      expect(epoch).toMatch(/^[a-z0-9]{1,16}$/);
      expect([...first, named].map((event) => event?.seq)).toEqual([1, 2, 3, 4]);
      expect([...first, named].map((event) => event?.id)).toEqual([1, 2, 3, 4].map((seq) => `${epoch}-${seq}`));
      expect(first.map((event) => event.channel)).toEqual(['a', 'b', 'a']);
      expect(first[1]?.frame.toString()).toBe(`id: ${epoch}-2\ndata: d1\n\n`);
      expect(named?.frame.toString()).toBe(`id: ${epoch}-4\nevent: named\ndata: line 1\ndata: line 2\n\n`);
    });

    it('gives each batch consecutive seqs, never interleaved with a batch appended at the same time', async () => {
      const log = await open();
      const batches = await Promise.all(
        [0, 1, 2, 3, 4].map((batch) => log.append(['a', 'b', 'c'].map((channel): EventInput => ({ channel, data: `${batch}` })))),
      );
      for (const events of batches) {
        const first = events[0]?.seq ?? 0;
        expect(events.map((event) => event.seq)).toEqual([first, first + 1, first + 2]);
        expect(new Set(events.map((event) => event.frame.toString().split('data: ')[1]))).toHaveProperty('size', 1);
      }
      expect(
        batches
          .flat()
          .map((event) => event.seq)
          .sort((x, y) => x - y),
      ).toEqual(Array.from({ length: 15 }, (_, index) => index + 1));
    });

    it('lets a reader woken by the first event of a batch see the whole batch', async () => {
      const log = await open();
      const reads: Array<Promise<string>> = [];
      log.onEvent((event) => reads.push(log.replay(['a'], event.id.replace(/-\d+$/, '-0')).then((items) => `${event.seq}:${items.length}`)));
      await publish(log, 'a', 'a', 'a');
      await until(() => reads.length === 3, 'three events told');
      expect(await Promise.all(reads)).toEqual(['1:3', '2:3', '3:3']);
    });

    it('tells listeners of every event once, in seq order, with the id and frame the append returned', async () => {
      const log = await open();
      const heard = listen(log);
      const appended = [
        ...(await publish(log, 'a', 'b')),
        ...(await log.append([{ channel: 'c', event: 'e', data: 'x' }])),
        ...(await publish(log, 'b', 'a', 'c')),
      ];
      await until(() => heard.length >= appended.length, 'every event told');
      expect(heard.map((event) => event.id)).toEqual(appended.map((event) => event.id));
      expect(heard.map((event) => event.channel)).toEqual(appended.map((event) => event.channel));
      expect(heard.map((event) => event.frame.toString())).toEqual(appended.map((event) => event.frame.toString()));
    });

    it('replays exactly the events after the cursor, on the asked channels, in seq order', async () => {
      const log = await open();
      const [first] = await publish(log, 'a', 'b', 'a', 'c', 'b', 'a');
      const epoch = epochOf(first);
      expect(describeItems(await log.replay(['a'], `${epoch}-1`))).toEqual(['a:3', 'a:6']);
      expect(describeItems(await log.replay(['a', 'b'], `${epoch}-2`))).toEqual(['a:3', 'b:5', 'a:6']);
      // The order the channels are asked in does not matter: one seq orders them all.
      expect(describeItems(await log.replay(['c', 'b', 'a'], `${epoch}-0`))).toEqual(['a:1', 'b:2', 'a:3', 'c:4', 'b:5', 'a:6']);
      expect(describeItems(await log.replay(['a', 'b', 'c'], `${epoch}-6`))).toEqual([]);
      expect(describeItems(await log.replay(['never'], `${epoch}-0`))).toEqual([]);
    });

    it('resumes from every id exactly once: what was delivered through it and what replays after it are the log', async () => {
      const log = await open();
      const events = [...(await publish(log, 'a', 'b', 'x')), ...(await publish(log, 'b', 'b', 'a', 'x', 'a'))];
      const epoch = epochOf(events[0]);
      const wanted = events.filter((event) => event.channel !== 'x');
      for (let seq = 0; seq <= events.length; seq += 1) {
        const replayed = await log.replay(['a', 'b'], `${epoch}-${seq}`);
        expect(replayed.every((item) => item.event !== undefined)).toBe(true);
        expect(replayed.map((item) => item.event?.id)).toEqual(wanted.filter((event) => event.seq > seq).map((event) => event.id));
      }
    });

    it('reports events trimmed by maxEvents as a gap at the newest seq lost, and a resume from the gap is exact', async () => {
      const log = await open({ maxEvents: 2 });
      const [first] = await publish(log, 'a', 'a', 'a', 'a');
      const epoch = epochOf(first);
      expect(describeItems(await log.replay(['a'], `${epoch}-0`))).toEqual(['gap(trimmed@2:a)', 'a:3', 'a:4']);
      const [gap] = await log.replay(['a'], `${epoch}-0`);
      expect(gap?.gap).toEqual({ reason: 'trimmed', seq: 2, id: `${epoch}-2`, channels: ['a'] });
      expect(describeItems(await log.replay(['a'], `${epoch}-2`))).toEqual(['a:3', 'a:4']);
    });

    it('does not report a gap to a cursor at or past what was trimmed', async () => {
      const log = await open({ maxEvents: 1 });
      const [first] = await publish(log, 'a', 'a', 'a');
      const epoch = epochOf(first);
      expect(describeItems(await log.replay(['a'], `${epoch}-1`))).toEqual(['gap(trimmed@2:a)', 'a:3']);
      expect(describeItems(await log.replay(['a'], `${epoch}-2`))).toEqual(['a:3']);
      expect(describeItems(await log.replay(['a'], `${epoch}-3`))).toEqual([]);
    });

    it("interleaves one channel's gap between the other channels' events in a multi-channel replay", async () => {
      const log = await open({ maxEvents: 2 });
      // seq: a1 b2 a3 a4 a5 b6 → a keeps 4,5 (trimmed through 3), b keeps 2,6.
      const [first] = await publish(log, 'a', 'b', 'a', 'a', 'a', 'b');
      const epoch = epochOf(first);
      expect(describeItems(await log.replay(['a', 'b'], `${epoch}-0`))).toEqual(['b:2', 'gap(trimmed@3:a)', 'a:4', 'a:5', 'b:6']);
      expect(describeItems(await log.replay(['b', 'a'], `${epoch}-2`))).toEqual(['gap(trimmed@3:a)', 'a:4', 'a:5', 'b:6']);
    });

    it('counts events older than maxAge as trimmed, on the log clock', async () => {
      const log = await open({ maxAgeMs: 60_000 });
      const [first] = await publish(log, 'a', 'b');
      const epoch = epochOf(first);
      clock.advance(30_000);
      await publish(log, 'a');
      expect(describeItems(await log.replay(['a', 'b'], `${epoch}-0`))).toEqual(['a:1', 'b:2', 'a:3']);
      clock.advance(40_000);
      // a1 and b2 are 70 s old, a3 40 s: each channel's gap stands at its own newest seq gone.
      expect(describeItems(await log.replay(['a', 'b'], `${epoch}-0`))).toEqual(['gap(trimmed@1:a)', 'gap(trimmed@2:b)', 'a:3']);
      expect(describeItems(await log.replay(['a'], `${epoch}-1`))).toEqual(['a:3']);
      clock.advance(30_000);
      expect(describeItems(await log.replay(['a'], `${epoch}-1`))).toEqual(['gap(trimmed@3:a)']);
      // Aged out for good: a new event does not bring the old ones back.
      await publish(log, 'a');
      expect(describeItems(await log.replay(['a', 'b'], `${epoch}-0`))).toEqual(['gap(trimmed@2:b)', 'gap(trimmed@3:a)', 'a:4']);
    });

    it('answers an id from another epoch with an epoch-changed gap where this log began, then everything it holds', async () => {
      const log = await open({ maxEvents: 2 });
      const [first] = await publish(log, 'a', 'b', 'a');
      const epoch = epochOf(first);
      expect(describeItems(await log.replay(['a'], `${FOREIGN_EPOCH}-1`))).toEqual(['gap(epoch-changed@0:a)', 'a:1', 'a:3']);
      const [gap] = await log.replay(['a', 'b'], `${FOREIGN_EPOCH}-7`);
      expect(gap?.gap).toEqual({ reason: 'epoch-changed', seq: 0, id: `${epoch}-0`, channels: ['a', 'b'] });
      // What this log trimmed is still owed after the epoch gap, at its own seq.
      await publish(log, 'a');
      expect(describeItems(await log.replay(['a', 'b'], `${FOREIGN_EPOCH}-1`))).toEqual(['gap(epoch-changed@0:a+b)', 'gap(trimmed@1:a)', 'b:2', 'a:3', 'a:4']);
    });

    it('answers a malformed id and an id past the head with a gap at the head, carrying the head id', async () => {
      const log = await open();
      expect(describeItems(await log.replay(['a'], 'garbage'))).toEqual(['gap(malformed-id@0:a)']);
      const [first] = await publish(log, 'a', 'a');
      const epoch = epochOf(first);
      for (const bad of ['garbage', '', `${epoch}-`, `-1`, `${epoch}-1-2`, `${epoch.toUpperCase()}!-1`]) {
        expect(describeItems(await log.replay(['a', 'b'], bad))).toEqual(['gap(malformed-id@2:a+b)']);
      }
      expect(describeItems(await log.replay(['a'], `${epoch}-99`))).toEqual(['gap(unknown-id@2:a)']);
      const [gap] = await log.replay(['a'], `${epoch}-3`);
      expect(gap?.gap).toEqual({ reason: 'unknown-id', seq: 2, id: `${epoch}-2`, channels: ['a'] });
      // The head itself is not past the head.
      expect(describeItems(await log.replay(['a'], `${epoch}-2`))).toEqual([]);
    });

    it('keeps at most maxChannels channels, dropping the least recently appended, and a resume on it gets a trimmed gap', async () => {
      const log = await open({ maxChannels: 2 });
      const [first] = await publish(log, 'old', 'mid', 'old', 'new');
      const epoch = epochOf(first);
      // 'mid' (seq 2) was appended least recently when 'new' arrived.
      expect(describeItems(await log.replay(['mid'], `${epoch}-0`))).toEqual(['gap(trimmed@2:mid)']);
      expect(describeItems(await log.replay(['mid'], `${epoch}-2`))).toEqual([]);
      expect(describeItems(await log.replay(['old', 'new'], `${epoch}-0`))).toEqual(['old:1', 'old:3', 'new:4']);
      // A dropped channel appended again still owes its gap to a cursor from before; the one now least recent goes.
      await publish(log, 'mid');
      expect(describeItems(await log.replay(['mid'], `${epoch}-0`))).toEqual(['gap(trimmed@2:mid)', 'mid:5']);
      expect(describeItems(await log.replay(['mid'], `${epoch}-2`))).toEqual(['mid:5']);
      expect(describeItems(await log.replay(['old', 'new', 'mid'], `${epoch}-3`))).toEqual(['new:4', 'mid:5']);
      expect(describeItems(await log.replay(['old'], `${epoch}-0`))).toEqual(['gap(trimmed@3:old)']);
    });

    it('holds no events of channels beyond maxChannels however many pass, each answered by a gap covering what it had', async () => {
      const log = await open({ maxChannels: 3 });
      const channels = Array.from({ length: 20 }, (_, index) => `c${index}`);
      const appended: LoggedEvent[] = [];
      for (const channel of channels) appended.push(...(await publish(log, channel)));
      // A batch over more channels than the bound keeps its most recent.
      appended.push(...(await publish(log, 'x', 'y', 'z', 'w')));
      const epoch = epochOf(appended[0]);
      const head = appended.length;
      for (const event of appended) {
        const items = await log.replay([event.channel], `${epoch}-0`);
        if (['y', 'z', 'w'].includes(event.channel)) {
          // Kept, all of it. A backend may put a gap before a channel new since it forgot others (it
          // cannot tell it from one it forgot): a gap that was not needed, never a missed one.
          expect(items.filter((item) => item.event).map((item) => item.event?.id)).toEqual([event.id]);
          for (const item of items) if (item.gap) expect(item.gap).toMatchObject({ reason: 'trimmed', seq: expect.any(Number) as number });
          expect(items.at(-1)?.event?.id).toBe(event.id);
          continue;
        }
        // Dropped: no event, one trimmed gap at or after the channel's own newest seq (a backend may
        // cover several forgotten channels with one mark), never past the head.
        expect(items).toHaveLength(1);
        expect(items[0]?.gap).toMatchObject({ reason: 'trimmed', channels: [event.channel] });
        expect(items[0]?.gap?.seq).toBeGreaterThanOrEqual(event.seq);
        expect(items[0]?.gap?.seq).toBeLessThanOrEqual(head);
      }
      expect(describeItems(await log.replay(['y', 'z', 'w'], `${epoch}-${head - 3}`))).toEqual([`y:${head - 2}`, `z:${head - 1}`, `w:${head}`]);
    });
  });
}
