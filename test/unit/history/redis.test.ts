import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/load.ts';
import type { HistoryBounds } from '../../../src/history/bounds.ts';
import type { LoggedEvent, ReplayItem } from '../../../src/history/history.ts';
import { RedisHistory } from '../../../src/history/redis/log.ts';
import { LogScripts } from '../../../src/history/redis/scripts.ts';
import { RedisDeadline } from '../../../src/history/redis/deadline.ts';
import { RedisKeys } from '../../../src/redis/keys.ts';
import { createLogger } from '../../../src/logger.ts';
import { createMetrics } from '../../../src/metrics/metrics.ts';
import { encodeEvent } from '../../../src/sse/encode.ts';
import { startRedis, type TestRedis } from '../../support/redis.ts';
import { until as poll } from '../../support/poll.ts';
import { registerHistoryContract } from './contract.ts';

let redis: TestRedis;
/** The test's own connection, made before any test limits maxclients. */
let admin: Redis;
const open: RedisHistory[] = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
  await admin.connect();
});
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});
afterEach(async () => {
  await admin.config('SET', 'maxclients', '10000');
  await Promise.all(open.splice(0).map((log) => log.close()));
  await redis.cli('FLUSHALL');
});

type HistoryOptions = Partial<HistoryBounds>;

/** A RedisHistory that was never started: it appends, but never subscribed, so it knows nothing of what the log issued before. */
async function unstarted(options: HistoryOptions = {}): Promise<RedisHistory> {
  const config = resolveConfig({ redis: { url: redis.url, commandTimeout: '1s' } });
  const log = new RedisHistory({
    redis: config.redis,
    maxEvents: 100,
    maxAgeMs: 3_600_000,
    maxChannels: 100_000,
    logger: createLogger('silent'),
    metrics: createMetrics(),
    ...options,
  });
  open.push(log);
  await poll(() => log.client.status === 'ready', 'the command connection', 5_000);
  return log;
}

async function history(options: HistoryOptions = {}): Promise<RedisHistory> {
  const log = await unstarted(options);
  await log.start(5_000);
  return log;
}

/**
 * The log's keys as they are now; calling the result puts them back, in one MULTI, as a restore
 * from an older snapshot (or a replica promoted before it had the latest writes) would.
 */
async function snapshot(): Promise<() => Promise<void>> {
  const names = await admin.keys('sseg:{log}:*');
  const dumps = await Promise.all(names.map(async (key) => [key, await admin.dumpBuffer(key)] as const));
  return async () => {
    const restore = admin.multi();
    for (const key of await admin.keys('sseg:{log}:*')) restore.del(key);
    for (const [key, dump] of dumps) if (dump !== null) restore.restore(key, 0, dump);
    await restore.exec();
  };
}

/** Drops every fan-out subscription connection, as an outage would. */
async function killSubscribers(): Promise<void> {
  for (const line of String(await admin.client('LIST')).split('\n')) {
    const id = /(?:^| )id=(\d+) /.exec(line)?.[1];
    if (id !== undefined && line.includes('name=sse-gateway:subscriber')) await admin.client('KILL', 'ID', id);
  }
}

function collect(log: RedisHistory): LoggedEvent[] {
  const seen: LoggedEvent[] = [];
  log.onEvent((event) => seen.push(event));
  return seen;
}

const until = (check: () => boolean, what: string): Promise<void> => poll(check, what, 5_000);

const describeItems = (items: readonly ReplayItem[]): string[] =>
  items.map((item) => (item.event ? `${item.event.channel}:${item.event.seq}` : `gap(${item.gap.reason}@${item.gap.seq}:${item.gap.channels.join('+')})`));

const keys = new RedisKeys('sseg:');

// Each contract test starts on an empty Redis: the afterEach above flushes it.
registerHistoryContract('redis', { open: (bounds) => history(bounds) });

describe('RedisHistory', () => {
  it('numbers appends from every instance with one sequence and one epoch kept in Redis', async () => {
    const a = await history();
    const b = await history();
    const [first] = await a.append([{ channel: 'x', data: '1' }]);
    const [second, third] = await b.append([
      { channel: 'y', data: '2' },
      { channel: 'x', data: '3', event: 'named' },
    ]);
    expect([first!.seq, second!.seq, third!.seq]).toEqual([1, 2, 3]);
    const epoch = first!.id.split('-')[0];
    expect(third!.id).toBe(`${epoch}-3`);
    expect(await redis.cli('HGET', keys.meta, 'epoch')).toBe(epoch);
  });

  it('tells every instance about every event once, in seq order, with the frame encoded as memory does', async () => {
    const a = await history();
    const b = await history();
    const seenA = collect(a);
    const seenB = collect(b);
    const appended = [
      ...(await a.append([{ channel: 'c', data: 'line 1\nline 2' }])),
      ...(await b.append([{ channel: 'd', event: 'e', data: 'x' }])),
      ...(await a.append([{ channel: 'c', data: '' }])),
    ];
    await until(() => seenA.length === 3 && seenB.length === 3, 'three notifications on each');
    for (const seen of [seenA, seenB]) {
      expect(seen.map((event) => event.id)).toEqual(appended.map((event) => event.id));
      expect(seen.map((event) => event.frame.toString())).toEqual(appended.map((event) => event.frame.toString()));
    }
    expect(seenB[0]!.frame.equals(encodeEvent(appended[0]!.id, undefined, 'line 1\nline 2'))).toBe(true);
  });

  it('replays after a cursor across channels, in global order, and flags bad, foreign and future ids at the head', async () => {
    const log = await history();
    const [one] = await log.append([{ channel: 'a', data: '1' }]);
    await log.append([
      { channel: 'b', data: '2' },
      { channel: 'c', data: '3' },
      { channel: 'a', data: '4' },
    ]);
    expect(describeItems(await log.replay(['a', 'b'], one!.id))).toEqual(['b:2', 'a:4']);
    expect(describeItems(await log.replay(['a'], 'not-an-id!'))).toEqual(['gap(malformed-id@4:a)']);
    // An id from another epoch: a gap where this epoch began (a new log: seq 0), then all of this epoch.
    expect(describeItems(await log.replay(['a'], 'zzzz-1'))).toEqual(['gap(epoch-changed@0:a)', 'a:1', 'a:4']);
    expect(describeItems(await log.replay(['a'], one!.id.replace(/-1$/, '-99')))).toEqual(['gap(unknown-id@4:a)']);
  });

  it('records how far each channel was trimmed by maxEvents, so a gap is reported exactly', async () => {
    const log = await history({ maxEvents: 2 });
    const [a1] = await log.append([{ channel: 'a', data: 'a1' }]);
    const [b1] = await log.append([{ channel: 'b', data: 'b1' }]);
    await log.append([
      { channel: 'a', data: 'a2' },
      { channel: 'a', data: 'a3' },
      { channel: 'a', data: 'a4' },
    ]);
    // a1 (1) and a2 (3) were trimmed: a client at 1 missed a2; a client at 3 (past a2) missed nothing.
    expect(describeItems(await log.replay(['a'], a1!.id))).toEqual(['gap(trimmed@3:a)', 'a:4', 'a:5']);
    expect(describeItems(await log.replay(['a'], a1!.id.replace(/-1$/, '-3')))).toEqual(['a:4', 'a:5']);
    expect(describeItems(await log.replay(['a', 'b'], b1!.id))).toEqual(['gap(trimmed@3:a)', 'a:4', 'a:5']);
    expect(await redis.cli('XLEN', keys.stream('a'))).toBe('2');
  });

  it('counts events older than maxAge as gone at read, even before an append trims them', async () => {
    const log = await history({ maxAgeMs: 60_000 });
    const [fresh] = await log.append([{ channel: 'other', data: 'x' }]);
    // An entry written a long time ago (t=1000 ms since 1970), as if the channel had gone quiet since.
    await redis.cli('HINCRBY', keys.meta, 'seq', '1');
    await redis.cli('XADD', keys.stream('aged'), '2-0', 't', '1000', 'd', 'old');
    await log.append([{ channel: 'aged', data: 'new' }]);
    expect(describeItems(await log.replay(['aged'], fresh!.id))).toEqual(['gap(trimmed@2:aged)', 'aged:3']);
    // The append trimmed it for good, and remembered how far.
    expect(await redis.cli('HGET', keys.trimmed, 'aged')).toBe('2');
  });

  it('sweeps aged events from idle channels, deleting emptied streams but keeping their gaps exact', async () => {
    const log = await history({ maxAgeMs: 60_000 });
    // Two events written long ago on a channel nobody appends to any more, one recent on another.
    await redis.cli('HINCRBY', keys.meta, 'seq', '2');
    await redis.cli('XADD', keys.stream('idle'), '1-0', 't', '1000', 'd', 'old 1');
    await redis.cli('XADD', keys.stream('idle'), '2-0', 't', '2000', 'd', 'old 2');
    const [recent] = await log.append([{ channel: 'busy', data: 'new' }]);
    expect(await log.sweep()).toBe(2);
    expect(await redis.cli('EXISTS', keys.stream('idle'))).toBe('0');
    expect(await redis.cli('XLEN', keys.stream('busy'))).toBe('1');
    expect(await redis.cli('HGET', keys.trimmed, 'idle')).toBe('2');
    const epoch = recent!.id.split('-')[0]!;
    expect(describeItems(await log.replay(['idle'], `${epoch}-1`))).toEqual(['gap(trimmed@2:idle)']);
    expect(describeItems(await log.replay(['idle', 'busy'], `${epoch}-2`))).toEqual(['busy:3']);
    // The channel comes back to life as a new stream after its trimmed-through mark.
    await log.append([{ channel: 'idle', data: 'again' }]);
    expect(describeItems(await log.replay(['idle'], `${epoch}-1`))).toEqual(['gap(trimmed@2:idle)', 'idle:4']);
    expect(await log.sweep()).toBe(0);
    // More aged entries than one script round reads (100): all go.
    await redis.cli('HINCRBY', keys.meta, 'seq', '250');
    for (let seq = 5; seq <= 254; seq += 1) await log.client.xadd(keys.stream('bulk'), `${seq}-0`, 't', '3000', 'd', 'x');
    expect(await log.sweep()).toBe(250);
    expect(await redis.cli('HGET', keys.trimmed, 'bulk')).toBe('254');
    expect(await redis.cli('EXISTS', keys.stream('bulk'))).toBe('0');
  });

  it('appends entries from one source once, however many instances offer them', async () => {
    const a = await history();
    const b = await history();
    const entries = [
      { sourceId: '100-0', input: { channel: 's', data: 'one' } },
      { sourceId: '100-1', input: { channel: 's', data: 'two' } },
    ];
    expect(await a.appendFromSource('app:src', entries)).toBe(2);
    expect(await b.appendFromSource('app:src', entries)).toBe(0);
    expect(await b.appendFromSource('app:src', [...entries, { sourceId: '101-0', input: { channel: 's', data: 'three' } }])).toBe(1);
    expect(await redis.cli('XLEN', keys.stream('s'))).toBe('3');
    expect(await redis.cli('HGET', keys.sources, 'app:src')).toBe('101-0');
  });

  /**
   * A notification for seq 5 when the log's head is 1 (2..4 never arrived, and never existed):
   * this process cannot vouch for what its streams sent, and reading the log cannot fill the hole.
   */
  async function holeNobodyCanFill(follow: boolean): Promise<{ resets: number; ids: string[]; epoch: string }> {
    const log = await history();
    if (follow) log.followChannels(() => ['h']);
    let resets = 0;
    log.onReset(() => (resets += 1));
    const seen = collect(log);
    const [first] = await log.append([{ channel: 'h', data: '1' }]);
    await until(() => seen.length === 1, 'the first notification');
    const epoch = first!.id.split('-')[0]!;
    await redis.cli('PUBLISH', keys.notify, `${epoch}\n5\n${Date.now()}\nh\n\nlate`);
    await until(() => seen.length === 2, 'the second notification');
    return { resets, ids: seen.map((event) => event.id), epoch };
  }

  it('asks streams to resume when a seq is missing from the notifications', async () => {
    const { resets, ids, epoch } = await holeNobodyCanFill(false);
    expect(resets).toBe(1);
    expect(ids[1]).toBe(`${epoch}-5`);
  });

  it('stores nothing from an append that reaches Redis after its deadline, so a 503 after a stall is never stored later', async () => {
    const client = new Redis({ host: '127.0.0.1', port: redis.port });
    try {
      const scripts = new LogScripts(client, keys, { maxEvents: 100, maxAgeMs: 3_600_000, maxChannels: 100 }, 'PUBLISH');
      const now = await scripts.time();
      const event = { sourceId: '', input: { channel: 'late', data: 'x' } };
      await expect(scripts.append({ candidate: 'e1', known: '', seen: 0 }, [event], '', now - 1)).rejects.toThrow(/SSEG_LATE/);
      expect(await admin.exists(keys.meta, keys.stream('late'))).toBe(0);
      const [epoch, redisTime, seq] = await scripts.append({ candidate: 'e1', known: '', seen: 0 }, [event], '', now + 60_000);
      expect([epoch, seq]).toEqual(['e1', 1]);
      expect(redisTime).toBeGreaterThanOrEqual(now);
    } finally {
      client.disconnect();
    }
  });

  it('puts the append deadline on the Redis clock from the replies it saw, never later than the command timeout, whatever the skew', () => {
    const deadline = new RedisDeadline(500);
    expect(deadline.deadline(1_000)).toBeUndefined();
    // Redis's clock 10 s ahead of ours; a reply received at 2_000 carried 12_000 - 3 (it was produced up to 3 ms before).
    deadline.sample(11_997, 2_000);
    // Sent at 5_000 (ours): given up at 5_500 ours, 15_500 Redis's at the latest; 100 ms are left for the reply.
    expect(deadline.deadline(5_000)).toBe(5_000 + 500 - 100 + 9_997);
    // A tighter bound (a quicker reply) moves it later, never past the true offset; a looser one does not move it.
    deadline.sample(12_999, 3_000);
    deadline.sample(13_900, 4_000);
    expect(deadline.deadline(5_000)).toBe(5_000 + 400 + 9_999);
    // Clocks drift: after 30 s the bound is taken afresh, even lower.
    deadline.sample(44_000, 35_000);
    expect(deadline.deadline(35_000)).toBe(35_000 + 400 + 9_000);
  });

  it('catches up in place, from the log, what its subscription missed on the channels it follows: no reset', async () => {
    const log = await history();
    log.followChannels(() => ['m']);
    let resets = 0;
    log.onReset(() => (resets += 1));
    const seen = collect(log);
    const stranger = await unstarted();
    const [first] = await log.append([{ channel: 'm', data: '1' }]);
    await until(() => seen.length === 1, 'the first notification');

    await admin.config('SET', 'maxclients', '1');
    await killSubscribers();
    await until(() => !log.isReady(), 'the log to notice');
    const missed = await stranger.append([
      { channel: 'm', data: '2' },
      { channel: 'unfollowed', data: '3' },
      { channel: 'm', data: '4' },
    ]);
    await admin.config('SET', 'maxclients', '10000');
    await until(() => log.isReady(), 'the catch-up after the outage');
    const [next] = await stranger.append([{ channel: 'm', data: '5' }]);
    await until(() => seen.length === 4, 'the next event');

    expect(seen.map((event) => event.id)).toEqual([first!.id, missed[0]!.id, missed[2]!.id, next!.id]);
    expect(seen.map((event) => event.seq)).toEqual([1, 2, 4, 5]);
    expect(resets).toBe(0);
  });

  it('fills a hole in the notifications from the log for the channels it follows, in order, without a reset', async () => {
    const log = await history();
    log.followChannels(() => ['h']);
    let resets = 0;
    log.onReset(() => (resets += 1));
    const seen = collect(log);
    const stranger = await unstarted();
    await log.append([{ channel: 'h', data: '1' }]);
    await until(() => seen.length === 1, 'the first notification');
    // An event in the log whose notification never came (as one lost between Redis and this subscriber).
    await admin.hincrby(keys.meta, 'seq', 1);
    await admin.xadd(keys.stream('h'), '2-0', 't', String(Date.now()), 'd', 'silent');
    await stranger.append([{ channel: 'h', data: '3' }]);
    await until(() => seen.length === 3, 'the hole filled');
    await stranger.append([{ channel: 'h', data: '4' }]);
    await until(() => seen.length === 4, 'the next notification');
    expect(seen.map((event) => event.seq)).toEqual([1, 2, 3, 4]);
    expect(seen.map((event) => /^data: (.*)$/m.exec(event.frame.toString())?.[1])).toEqual(['1', 'silent', '3', '4']);
    expect(resets).toBe(0);
  });

  it('asks streams to resume, even when it follows channels, for a notification past what the log holds', async () => {
    // Reading the log cannot fill that hole, so it is not tried twice.
    expect((await holeNobodyCanFill(true)).resets).toBe(1);
  });

  it('refuses appends with SSEG_UNAVAILABLE while Redis is down, and is not ready', async () => {
    const log = await history();
    expect(log.isReady()).toBe(true);
    await redis.kill();
    try {
      await until(() => !log.isReady(), 'the log to notice');
      await expect(log.append([{ channel: 'z', data: 'lost' }])).rejects.toMatchObject({ code: 'SSEG_UNAVAILABLE', status: 503 });
    } finally {
      await redis.restart();
    }
    await until(() => log.isReady(), 'the log to reconnect');
    await expect(log.append([{ channel: 'z', data: 'kept' }])).resolves.toHaveLength(1);
  });

  it('starts one new epoch before issuing a seq again when appends find the log behind what their instances saw', async () => {
    const a = await history();
    const b = await history();
    const seenB = collect(b);
    const [first] = await a.append([{ channel: 'r', data: 'kept' }]);
    const restore = await snapshot();
    const lost = await a.append([
      { channel: 'r', data: 'lost 1' },
      { channel: 'r', data: 'lost 2' },
    ]);
    await until(() => seenB.length === 3, 'B to hear all three');
    await restore();
    expect(await redis.cli('HGET', keys.meta, 'seq')).toBe('1');
    const oldEpoch = first!.id.split('-')[0];

    // Both saw seq 3 and append at once: the first script starts a new epoch, the second finds it already moved on.
    const [[fromA], [fromB]] = await Promise.all([a.append([{ channel: 'r', data: 'new a' }]), b.append([{ channel: 'r', data: 'new b' }])]);
    const epoch = await redis.cli('HGET', keys.meta, 'epoch');
    expect(epoch).not.toBe(oldEpoch);
    expect([fromA!.id.split('-')[0], fromB!.id.split('-')[0]]).toEqual([epoch, epoch]);
    expect([fromA!.seq, fromB!.seq].sort()).toEqual([2, 3]);
    // A client holding a lost id gets a gap where the new epoch began, then the new epoch's events.
    expect(describeItems(await a.replay(['r'], lost[1]!.id))).toEqual(['gap(epoch-changed@1:r)', 'r:2', 'r:3']);
  });

  it('starts a new epoch and resets its streams when a notification shows the log went back, delivering nothing under the old epoch', async () => {
    const log = await history();
    let resets = 0;
    log.onReset(() => (resets += 1));
    const seen = collect(log);
    await log.append([{ channel: 'n', data: '1' }]);
    const restore = await snapshot();
    await log.append([
      { channel: 'n', data: '2' },
      { channel: 'n', data: '3' },
    ]);
    await until(() => seen.length === 3, 'three notifications');
    const heard = seen.map((event) => event.id);
    const oldEpoch = heard[0]!.split('-')[0];
    await restore();

    // An instance that never heard of seqs 2 and 3 appends: its event gets seq 2 of the old epoch again.
    const stranger = await unstarted();
    const [reused] = await stranger.append([{ channel: 'n', data: 'another 2' }]);
    expect(reused!.id).toBe(heard[1]);
    await poll(async () => (await redis.cli('HGET', keys.meta, 'epoch')) !== oldEpoch, 'a new epoch', 5_000);
    await until(() => resets === 1, 'the streams to be reset');
    const [next] = await stranger.append([{ channel: 'n', data: 'first of the new epoch' }]);
    await until(() => seen.length === 4, 'the next event');
    expect(seen.map((event) => event.id)).toEqual([...heard, next!.id]);
    expect(next!.id.split('-')[0]).not.toBe(oldEpoch);
    expect(resets).toBe(1);
  });

  it.each([
    ['another event under the same seq on its channel', 'f'],
    ['its seq now on another channel', 'g'],
  ])('after an outage, starts a new epoch if the last event it heard is not in the log as it heard it (%s), even with the head past it', async (_, channel) => {
    const log = await history();
    let resets = 0;
    log.onReset(() => (resets += 1));
    const seen = collect(log);
    const stranger = await unstarted();
    await log.append([{ channel: 'f', data: '1' }]);
    const restore = await snapshot();
    await log.append([
      { channel: 'f', data: '2' },
      { channel: 'f', data: '3' },
    ]);
    await until(() => seen.length === 3, 'three notifications');
    const oldEpoch = seen[0]!.id.split('-')[0];

    // Cut the subscription and keep it from coming back while the log goes back and grows past seq 3.
    await admin.config('SET', 'maxclients', '1');
    await killSubscribers();
    await until(() => !log.isReady(), 'the log to notice');
    await restore();
    // Redis time moves on, so the stranger's seq 3 is told apart from the one heard even on the same channel.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await stranger.append([
      { channel: 'f', data: 'another 2' },
      { channel, data: 'another 3' },
      { channel: 'f', data: '4' },
      { channel: 'f', data: '5' },
    ]);
    await admin.config('SET', 'maxclients', '10000');
    await until(() => log.isReady(), 'the check after the outage');

    expect(await redis.cli('HGET', keys.meta, 'epoch')).not.toBe(oldEpoch);
    expect(await redis.cli('HGET', keys.meta, 'since')).toBe('5');
    expect(resets).toBe(1);
    expect(seen).toHaveLength(3);
  });

  it('keeps the trimmed hash to maxChannels marks, forgetting the lowest of channels with no stream left, and gaps stay safe', async () => {
    const log = await history({ maxAgeMs: 60_000, maxChannels: 2 });
    await redis.cli('HINCRBY', keys.meta, 'seq', '6');
    for (const [channel, seq] of [
      ['i1', 2],
      ['i2', 3],
      ['i3', 4],
      ['i4', 5],
    ] as const) {
      await redis.cli('XADD', keys.stream(channel), `${seq}-0`, 't', '1000', 'd', 'old');
    }
    // A channel still in use, with the lowest mark of all: kept, because its stream exists.
    await redis.cli('XADD', keys.stream('kept'), '6-0', 't', String(Date.now()), 'd', 'recent');
    await redis.cli('HSET', keys.trimmed, 'kept', '1');

    expect(await log.sweep()).toBe(4);
    expect((await admin.hkeys(keys.trimmed)).sort()).toEqual(['i4', 'kept']);
    expect(await redis.cli('HGET', keys.meta, 'forgotten')).toBe('4');
    const epoch = await redis.cli('HGET', keys.meta, 'epoch');
    // A channel with neither mark nor stream counts as lost through the forgotten marks: a gap before them, none after.
    expect(describeItems(await log.replay(['i1'], `${epoch}-1`))).toEqual(['gap(trimmed@4:i1)']);
    expect(describeItems(await log.replay(['i1', 'never'], `${epoch}-4`))).toEqual([]);
    expect(describeItems(await log.replay(['i4'], `${epoch}-4`))).toEqual(['gap(trimmed@5:i4)']);
    // A forgotten channel that comes back starts from the forgotten mark, so an old cursor still gets its gap.
    await log.append([{ channel: 'i1', data: 'again' }]);
    expect(await redis.cli('HGET', keys.trimmed, 'i1')).toBe('4');
    expect(describeItems(await log.replay(['i1'], `${epoch}-1`))).toEqual(['gap(trimmed@4:i1)', 'i1:7']);
    expect(describeItems(await log.replay(['i1'], `${epoch}-4`))).toEqual(['i1:7']);
  });

  it('keeps no more channel streams than maxChannels: the least recently appended is deleted, its mark kept', async () => {
    const log = await history({ maxChannels: 2 });
    await log.append([
      { channel: 'a', data: '1' },
      { channel: 'b', data: '2' },
    ]);
    await log.append([
      { channel: 'a', data: '3' },
      { channel: 'c', data: '4' },
    ]);
    // b (latest append seq 2) was the least recently appended when c made three.
    const streams = async (): Promise<string[]> => (await admin.keys(keys.stream('*'))).map((key) => keys.channelOf(key)).sort();
    expect(await streams()).toEqual(['a', 'c']);
    expect(await admin.zrange(keys.channels, '0', '-1', 'WITHSCORES')).toEqual(['a', '3', 'c', '4']);
    expect(await redis.cli('HGET', keys.trimmed, 'b')).toBe('2');
    // However many channels pass, the count stays at the bound.
    for (let index = 0; index < 30; index += 1) await log.append([{ channel: `n${index}`, data: 'x' }]);
    expect(await streams()).toEqual(['n28', 'n29']);
    expect(await admin.zcard(keys.channels)).toBe(2);
  });

  it('indexes channel streams the index does not know at the sweep, and bounds them there too', async () => {
    const log = await history({ maxChannels: 2 });
    // Streams as a gateway from before the channel index wrote them: recent, but in no index.
    await redis.cli('HINCRBY', keys.meta, 'seq', '3');
    for (const [channel, seq] of [
      ['p', 1],
      ['q', 2],
      ['r', 3],
    ] as const) {
      await redis.cli('XADD', keys.stream(channel), `${seq}-0`, 't', String(Date.now()), 'd', 'legacy');
    }
    expect(await log.sweep()).toBe(0);
    expect(await admin.zcard(keys.channels)).toBe(2);
    expect(await admin.keys(keys.stream('*'))).toHaveLength(2);
    const epoch = await redis.cli('HGET', keys.meta, 'epoch');
    // Whichever went, a resume on it gets a gap at its newest seq; the others replay whole.
    for (const [channel, seq] of [
      ['p', 1],
      ['q', 2],
      ['r', 3],
    ] as const) {
      const items = describeItems(await log.replay([channel], `${epoch}-0`));
      expect([[`${channel}:${seq}`], [`gap(trimmed@${seq}:${channel})`]]).toContainEqual(items);
    }
  });

  it('after an outage, does not take a channel stream evicted by the bound for a log that went back', async () => {
    const log = await history({ maxChannels: 2 });
    const stranger = await unstarted({ maxChannels: 2 });
    let resets = 0;
    log.onReset(() => (resets += 1));
    const seen = collect(log);
    await log.append([{ channel: 'heard', data: '1' }]);
    await until(() => seen.length === 1, 'the notification');
    const epoch = await redis.cli('HGET', keys.meta, 'epoch');

    await admin.config('SET', 'maxclients', '1');
    await killSubscribers();
    await until(() => !log.isReady(), 'the log to notice');
    // Two other channels: the stream of the last event the log heard is evicted while it cannot hear.
    await stranger.append([
      { channel: 'x', data: '2' },
      { channel: 'y', data: '3' },
    ]);
    expect(await admin.exists(keys.stream('heard'))).toBe(0);
    await admin.config('SET', 'maxclients', '10000');
    await until(() => log.isReady(), 'the check after the outage');

    // Not back: the evicted stream's mark covers the event heard. The streams resume for what was missed.
    expect(await redis.cli('HGET', keys.meta, 'epoch')).toBe(epoch);
    expect(resets).toBe(1);
  });
});
