import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { describeConfigKeys } from '../../../src/config/describe.ts';
import { parseConfigText, resolveConfig } from '../../../src/config/load.ts';
import { problemsOf } from './problems.ts';

/** `{ streams: { heartbeat: value } }` from `streams.heartbeat`. */
function at(key: string, value: unknown): Record<string, unknown> {
  return key
    .split('.')
    .reverse()
    .reduce<unknown>((inner, segment) => ({ [segment]: inner }), value) as Record<string, unknown>;
}

const keys = describeConfigKeys();
const durationKeys = keys.filter((doc) => doc.type === 'duration').map((doc) => doc.key);
const sizeKeys = keys.filter((doc) => doc.type === 'size').map((doc) => doc.key);
const countKeys = keys.filter((doc) => doc.type === 'integer').map((doc) => doc.key);

/** The keys where 0 means something, each documented so; everywhere else 0 is refused. */
const zeroMeansSomething = new Set([
  'streams.coalesce',
  'auth.jwt.clockTolerance',
  'auth.jwt.jwksCooldown',
  'auth.forward.cacheTtl',
  'server.port',
  'streams.maxConnectionsPerIp',
]);

describe('durations', () => {
  it('refuses a duration without a unit, naming the units (maxAge: 15 was silently 15 ms)', () => {
    expect(problemsOf(() => resolveConfig({ history: { maxAge: 15 } }))).toEqual([
      'history.maxAge: a duration needs a unit (ms, s, m, h, d), such as 500ms, 15s, 2h30m or 1.5s, got 15',
    ]);
    expect(problemsOf(() => resolveConfig(parseConfigText('streams:\n  heartbeat: "15"\n')))[0]).toMatch(/^streams\.heartbeat: a duration needs a unit/);
  });

  it('refuses an unknown unit, naming the units there are', () => {
    expect(problemsOf(() => resolveConfig({ history: { maxAge: '2w' } }))).toEqual([
      'history.maxAge: unknown duration unit: units are ms, s, m, h, d, got "2w"',
    ]);
  });

  it('reads compound and decimal durations', () => {
    const config = resolveConfig({ history: { maxAge: '2h30m' }, streams: { heartbeat: '1m30s', retry: '1.5s' }, server: { shutdownTimeout: '1s500ms' } });
    expect(config.history.maxAge).toBe(9_000_000);
    expect(config.streams.heartbeat).toBe(90_000);
    expect(config.streams.retry).toBe(1_500);
    expect(config.server.shutdownTimeout).toBe(1_500);
  });

  it('reads compound durations inside list items too (ingress.upstreamSse idleTimeout)', () => {
    const config = resolveConfig({ ingress: { upstreamSse: [{ url: 'http://127.0.0.1:3000/live', channel: 'c', idleTimeout: '1m30s' }] } });
    expect(config.ingress.upstreamSse[0]?.idleTimeout).toBe(90_000);
    expect(problemsOf(() => resolveConfig({ ingress: { upstreamSse: [{ url: 'http://127.0.0.1:3000/live', channel: 'c', idleTimeout: 300 }] } }))[0]).toMatch(
      /^ingress\.upstreamSse\.0\.idleTimeout: a duration needs a unit/,
    );
  });

  it('refuses a value that is neither text nor number with what a duration looks like', () => {
    expect(problemsOf(() => resolveConfig({ streams: { heartbeat: true } }))).toEqual([
      'streams.heartbeat: expected a duration such as 500ms, 15s or 2h30m, got true',
    ]);
  });

  it('refuses timers longer than Node can wait (a 30d heartbeat would beat every millisecond)', () => {
    expect(problemsOf(() => resolveConfig({ streams: { heartbeat: '30d' } }))).toEqual([
      'streams.heartbeat: must be at most 24d (the longest a Node.js timer waits), got "30d"',
    ]);
    expect(resolveConfig({ streams: { heartbeat: '24d' } }).streams.heartbeat).toBe(24 * 86_400_000);
    // History age is compared with event times, never waited for.
    expect(resolveConfig({ history: { maxAge: '90d' } }).history.maxAge).toBe(90 * 86_400_000);
  });

  it('refuses an HMAC tolerance under the one second X-SSEG-Timestamp can express', () => {
    expect(problemsOf(() => resolveConfig({ publish: { hmacTolerance: '500ms' } }))[0]).toMatch(
      /^publish\.hmacTolerance: must be at least 1s: X-SSEG-Timestamp counts whole seconds/,
    );
  });
});

describe('zeros that would not mean "off"', () => {
  it('knows every duration, size and count key (so a new one gets a decision)', () => {
    expect(durationKeys.length).toBeGreaterThan(15);
    expect(sizeKeys).toEqual(['streams.clientBufferBytes', 'publish.maxBodyBytes']);
    expect(countKeys.length).toBeGreaterThan(10);
  });

  it.each(durationKeys.filter((key) => !zeroMeansSomething.has(key)))('refuses %s: 0', (key) => {
    expect(problemsOf(() => resolveConfig(at(key, 0)))).toEqual([`${key}: must be more than 0 (0 does not turn this off), got 0`]);
    expect(problemsOf(() => resolveConfig(at(key, '0s')))).toEqual([`${key}: must be more than 0 (0 does not turn this off), got "0s"`]);
  });

  it.each(sizeKeys)('refuses %s: 0', (key) => {
    expect(problemsOf(() => resolveConfig(at(key, 0)))).toEqual([`${key}: must be more than 0 bytes, got 0`]);
  });

  it.each(countKeys.filter((key) => !zeroMeansSomething.has(key)))('refuses %s: 0', (key) => {
    expect(problemsOf(() => resolveConfig(at(key, 0)))).toEqual([
      `${key}: must be at least 1${key === 'server.backlog' || key === 'streams.workers' ? '' : ' (0 does not turn this off)'}, got 0`,
    ]);
  });

  it('refuses ingress.upstreamSse idleTimeout: 0', () => {
    expect(problemsOf(() => resolveConfig({ ingress: { upstreamSse: [{ url: 'http://127.0.0.1:3000/live', channel: 'c', idleTimeout: 0 }] } }))).toEqual([
      'ingress.upstreamSse.0.idleTimeout: must be more than 0 (0 does not turn this off), got 0',
    ]);
  });

  it.each([...zeroMeansSomething])('accepts %s: 0, and its description says what 0 means', (key) => {
    const config = resolveConfig(at(key, 0)) as unknown as Record<string, Record<string, unknown>>;
    const value = key.split('.').reduce<unknown>((node, segment) => (node as Record<string, unknown>)[segment], config);
    expect(value).toBe(0);
    expect(keys.find((doc) => doc.key === key)?.description).toMatch(/\b0\b/);
  });
});

describe('placeholders', () => {
  const placeholder = 'change-me-to-a-long-random-token';

  it('refuses the example config placeholder as a publish token, saying how to set a real one', () => {
    const [problem, ...rest] = problemsOf(() => resolveConfig({ publish: { tokens: [placeholder] } }));
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^publish\.tokens\.0: is a placeholder from an example, not a secret: /);
    expect(problem).toContain('SSEG_PUBLISH__TOKENS="$(openssl rand -hex 24)"');
    expect(problem).toContain('leave publish.tokens empty');
    expect(problem).not.toContain(placeholder);
  });

  it('refuses the placeholder the example config used to fall back to, unless the variable is set', () => {
    const raw = parseConfigText('publish:\n  tokens:\n    - ${SSEG_PUBLISH_TOKEN:-change-me-to-a-long-random-token}\n');
    expect(problemsOf(() => resolveConfig(raw, {}))).toEqual([
      'publish.tokens.0: environment variable SSEG_PUBLISH_TOKEN is not set, and the fallback written in the file is a placeholder: set SSEG_PUBLISH_TOKEN (for a token, SSEG_PUBLISH_TOKEN="$(openssl rand -hex 24)")',
    ]);
    expect(resolveConfig(raw, { SSEG_PUBLISH_TOKEN: 'a-real-token-0123456789abcdef' }).publish.tokens).toEqual(['a-real-token-0123456789abcdef']);
  });

  it('refuses every change-me token written in the docs, the README, the example config and the compose file', async () => {
    const files = ['README.md', 'docs/deployment.md', 'docs/auth.md', 'docs/redis.md', 'docs/config.md', 'config/gateway.example.yaml', 'docker-compose.yml'];
    const texts = await Promise.all(files.map((file) => readFile(new URL(`../../../${file}`, import.meta.url), 'utf8').catch(() => '')));
    const found = new Set(texts.flatMap((text) => [...text.matchAll(/\b[\w-]*change-?me[\w-]*/gi)].map((match) => match[0])));
    // The compose file's former default stays refused: an old copy of it may still be deployed.
    for (const token of [...found, 'demo-publish-token-change-me']) {
      const padded = token.length >= 32 ? token : `${token}-${'x'.repeat(32)}`;
      expect(problemsOf(() => resolveConfig({ publish: { tokens: [padded] } }))[0], token).toMatch(/is a placeholder/);
    }
  });

  it('refuses placeholders as HMAC and JWT secrets too', () => {
    expect(problemsOf(() => resolveConfig({ publish: { hmacSecrets: ['replace-me-with-32-random-characters!'] } }))[0]).toMatch(
      /^publish\.hmacSecrets\.0: is a placeholder from an example, not a secret: .*SSEG_PUBLISH__HMAC_SECRETS/,
    );
    expect(problemsOf(() => resolveConfig({ auth: { jwt: { secret: 'changeme-changeme-changeme-changeme' } } }))[0]).toMatch(
      /^auth\.jwt\.secret: is a placeholder .*SSEG_AUTH__JWT__SECRET/,
    );
  });

  it("refuses check-config's mask fed back as a secret, rather than taking *** as the token", () => {
    expect(problemsOf(() => resolveConfig({ publish: { tokens: ['****************'] } }))).toEqual([
      expect.stringMatching(/^publish\.tokens\.0: is the mask check-config prints in place of a secret, not the secret: /) as unknown,
    ]);
  });

  it('accepts a real token', () => {
    expect(resolveConfig({ publish: { tokens: ['0f9d6a3c5e7b1d2f4a6c8e0b'] } }).publish.tokens).toEqual(['0f9d6a3c5e7b1d2f4a6c8e0b']);
  });
});

describe('unknown keys', () => {
  it('suggests the closest key of the same section', () => {
    expect(problemsOf(() => resolveConfig({ streams: { heartbeet: '1s' } }))).toEqual(['streams.heartbeet: unknown key (did you mean streams.heartbeat?)']);
    expect(problemsOf(() => resolveConfig({ server: { hots: '0.0.0.0' } }))).toEqual(['server.hots: unknown key (did you mean server.host?)']);
    expect(problemsOf(() => resolveConfig({ streams: { max_connections: 5 } }))).toEqual([
      'streams.max_connections: unknown key (did you mean streams.maxConnections?)',
    ]);
  });

  it('suggests a key of another section when the name belongs there', () => {
    expect(problemsOf(() => resolveConfig({ heartbeat: '1s' }))).toEqual(['heartbeat: unknown key (did you mean streams.heartbeat?)']);
    expect(problemsOf(() => resolveConfig({ server: { heartbeat: '1s' } }))).toEqual(['server.heartbeat: unknown key (did you mean streams.heartbeat?)']);
    expect(problemsOf(() => resolveConfig({ stream: {} }))).toEqual(['stream: unknown key (did you mean streams?)']);
  });

  it('suggests inside list items', () => {
    expect(problemsOf(() => resolveConfig({ ingress: { upstreamSse: [{ url: 'http://127.0.0.1:3000/live', channel: 'c', idleTimout: '1m' }] } }))).toEqual([
      'ingress.upstreamSse.0.idleTimout: unknown key (did you mean ingress.upstreamSse.0.idleTimeout?)',
    ]);
  });

  it('suggests nothing rather than something unrelated', () => {
    expect(problemsOf(() => resolveConfig({ streams: { bogus: 1 } }))).toEqual(['streams.bogus: unknown key']);
  });
});
