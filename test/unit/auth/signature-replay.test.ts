import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/load.ts';
import { MemorySignatureReplayGuard, type SignatureReplayGuard } from '../../../src/auth/signature-replay.ts';
import { RedisSignatureReplayGuard } from '../../../src/auth/signature-replay-redis.ts';
import { GatewayError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/logger.ts';
import { until } from '../../support/poll.ts';
import { freePort, startRedis, type TestRedis } from '../../support/redis.ts';

const TOLERANCE = 5 * 60_000;
const T0 = Date.UTC(2030, 0, 1);

/** A signature as the verifier hands it over: 64 hex digits. */
const sig = (label: string): string => createHash('sha256').update(label).digest('hex');

/** A clock the test moves by hand. */
function clock(start = T0): { now: () => number; advance(ms: number): void } {
  let current = start;
  return {
    now: () => current,
    advance(ms) {
      current += ms;
    },
  };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error: unknown = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return (error as GatewayError).code;
}

/** The rules every guard keeps, written once and run against each implementation. */
function registerContract(name: string, make: (now: () => number) => Promise<SignatureReplayGuard>): void {
  describe(`${name}: the replay contract`, () => {
    it('accepts a signature once and refuses it the second time', async () => {
      const guard = await make(() => T0);
      expect(await guard.remember(sig('a'), T0)).toBe(true);
      expect(await guard.remember(sig('a'), T0)).toBe(false);
      expect(await guard.remember(sig('b'), T0)).toBe(true);
    });

    it('refuses a replay anywhere inside the window, future timestamps included', async () => {
      const time = clock();
      const guard = await make(time.now);
      expect(await guard.remember(sig('future'), T0 + TOLERANCE)).toBe(true);
      expect(await guard.remember(sig('past'), T0 - TOLERANCE)).toBe(true);
      time.advance(TOLERANCE);
      expect(await guard.remember(sig('future'), T0 + TOLERANCE)).toBe(false);
    });

    it('lets a forgotten signature be used again (its publish stored nothing)', async () => {
      const guard = await make(() => T0);
      expect(await guard.remember(sig('retry'), T0)).toBe(true);
      await guard.forget(sig('retry'));
      expect(await guard.remember(sig('retry'), T0)).toBe(true);
      expect(await guard.remember(sig('retry'), T0)).toBe(false);
      await guard.forget(sig('never-seen'));
    });

    it('refuses a timestamp outside the window as the verifier does, instead of holding it', async () => {
      const guard = await make(() => T0);
      expect(await refusal(guard.remember(sig('stale'), T0 - TOLERANCE - 1))).toBe('SSEG_SIGNATURE_EXPIRED');
      expect(await refusal(guard.remember(sig('far-future'), T0 + TOLERANCE + 1))).toBe('SSEG_SIGNATURE_EXPIRED');
    });
  });
}

describe('memory guard', () => {
  const guards: MemorySignatureReplayGuard[] = [];
  afterEach(async () => {
    await Promise.all(guards.splice(0).map((guard) => guard.close()));
  });
  const make = (now: () => number, maxEntries?: number): MemorySignatureReplayGuard => {
    const guard = new MemorySignatureReplayGuard({ toleranceMs: TOLERANCE, now, ...(maxEntries === undefined ? {} : { maxEntries }) });
    guards.push(guard);
    return guard;
  };

  registerContract('memory', (now) => Promise.resolve(make(now)));

  it('holds a signature until its timestamp plus the tolerance, and not a millisecond longer', async () => {
    const time = clock();
    const guard = make(time.now);
    await guard.remember(sig('a'), T0);
    await guard.remember(sig('b'), T0 + 1_000);
    time.advance(TOLERANCE);
    // At exactly timestamp + tolerance the verifier still accepts the timestamp: still held.
    expect(guard.size).toBe(2);
    expect(await guard.remember(sig('a'), T0)).toBe(false);
    time.advance(1);
    expect(guard.size).toBe(1);
    time.advance(1_000);
    expect(guard.size).toBe(0);
  });

  it('when full, refuses new signatures with 503 rather than forgetting one that can still be replayed', async () => {
    const time = clock();
    const guard = make(time.now, 3);
    for (const label of ['a', 'b', 'c']) expect(await guard.remember(sig(label), T0)).toBe(true);
    const full = await guard.remember(sig('d'), T0).catch((error: unknown) => error);
    expect(full).toBeInstanceOf(GatewayError);
    expect((full as GatewayError).status).toBe(503);
    expect((full as GatewayError).headers['Retry-After']).toBeDefined();
    // Nothing was evicted to make room: every held signature is still refused.
    for (const label of ['a', 'b', 'c']) expect(await guard.remember(sig(label), T0)).toBe(false);
    expect(guard.size).toBe(3);
    expect(guard.capacity).toBe(3);
    // Once they expire, there is room again.
    time.advance(TOLERANCE + 1);
    expect(await guard.remember(sig('d'), T0 + TOLERANCE)).toBe(true);
    expect(guard.size).toBe(1);
  });

  it('forgetting frees a place', async () => {
    const guard = make(() => T0, 1);
    await guard.remember(sig('a'), T0);
    await guard.forget(sig('a'));
    expect(guard.size).toBe(0);
    expect(await guard.remember(sig('b'), T0)).toBe(true);
  });
});

describe('redis guard, against a real redis-server', () => {
  let redis: TestRedis;
  const guards: RedisSignatureReplayGuard[] = [];
  const logger = createLogger('silent');
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis.stop();
  });
  afterEach(async () => {
    await Promise.all(guards.splice(0).map((guard) => guard.close()));
    await redis.cli('FLUSHALL');
  });

  /** One guard as one gateway instance would hold it: its own connection. */
  const make = (now: () => number, options: { url?: string; toleranceMs?: number } = {}): RedisSignatureReplayGuard => {
    const config = resolveConfig({ redis: { url: options.url ?? redis.url, commandTimeout: '1s' } });
    const guard = new RedisSignatureReplayGuard(config.redis, { toleranceMs: options.toleranceMs ?? TOLERANCE, keyPrefix: 'test:sig:', now }, logger);
    guards.push(guard);
    return guard;
  };
  const ready = async (guard: RedisSignatureReplayGuard): Promise<RedisSignatureReplayGuard> => {
    // Commands fail fast while connecting (no offline queue): wait for the first good answer.
    await until(
      async () =>
        await guard.forget(sig('warm-up')).then(
          () => true,
          () => false,
        ),
      'the guard connection',
      5_000,
    );
    return guard;
  };

  registerContract('redis', (now) => ready(make(now)));

  it('two instances on one Redis: a request replayed to the second is refused', async () => {
    const first = await ready(make(() => T0));
    const second = await ready(make(() => T0));
    expect(await first.remember(sig('webhook'), T0)).toBe(true);
    expect(await second.remember(sig('webhook'), T0)).toBe(false);
    expect(await first.remember(sig('webhook'), T0)).toBe(false);
  });

  it('two instances handed one signature at the same moment: exactly one goes through', async () => {
    const first = await ready(make(() => T0));
    const second = await ready(make(() => T0));
    for (let i = 0; i < 20; i += 1) {
      const answers = await Promise.all([first.remember(sig(`race-${i}`), T0), second.remember(sig(`race-${i}`), T0)]);
      expect(answers.filter(Boolean)).toHaveLength(1);
    }
  });

  it('keys the signature under the given prefix, living past the window by one tolerance and no more', async () => {
    const guard = await ready(make(() => T0));
    await guard.remember(sig('ttl'), T0);
    const ttl = Number(await redis.cli('PTTL', `test:sig:${sig('ttl')}`));
    expect(ttl).toBeGreaterThan(2 * TOLERANCE - 5_000);
    expect(ttl).toBeLessThanOrEqual(2 * TOLERANCE);
    await guard.remember(sig('oldest'), T0 - TOLERANCE);
    expect(Number(await redis.cli('PTTL', `test:sig:${sig('oldest')}`))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('Redis forgets a signature on its own once its time is up', async () => {
    // The guard's clock stands still (the timestamp stays inside the window); Redis's runs.
    const guard = await ready(make(() => T0, { toleranceMs: 100 }));
    expect(await guard.remember(sig('short'), T0)).toBe(true);
    expect(await guard.remember(sig('short'), T0)).toBe(false);
    await until(async () => guard.remember(sig('short'), T0), 'the key to expire', 3_000);
  });

  it('Redis unreachable is a 503, never a signature let through', async () => {
    const guard = make(() => T0, { url: `redis://127.0.0.1:${await freePort()}` });
    expect(await refusal(guard.remember(sig('a'), T0))).toBe('SSEG_UNAVAILABLE');
    expect(await refusal(guard.forget(sig('a')))).toBe('SSEG_UNAVAILABLE');
  });
});
