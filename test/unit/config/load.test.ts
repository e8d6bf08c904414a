import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText, resolveConfig } from '../../../src/config/load.ts';
import { problemsOf } from './problems.ts';

describe('resolveConfig', () => {
  it('gives the embedded default for an empty file', () => {
    const config = resolveConfig({});
    expect(config.server.port).toBe(8080);
    expect(config.streams.path).toBe('/events');
    expect(config.streams.heartbeat).toBe(15_000);
    expect(config.streams.retry).toBe(3_000);
    expect(config.history.backend).toBe('memory');
    expect(config.publish.path).toBe('/publish');
    expect(config.metrics.path).toBe('/metrics');
  });

  it('converts durations and sizes', () => {
    const config = resolveConfig({ streams: { heartbeat: '500ms', clientBufferBytes: '64kb' }, history: { maxAge: '2h' } });
    expect(config.streams.heartbeat).toBe(500);
    expect(config.streams.clientBufferBytes).toBe(65_536);
    expect(config.history.maxAge).toBe(7_200_000);
  });

  it('is frozen', () => {
    const config = resolveConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.streams)).toBe(true);
    expect(() => {
      (config.streams as { heartbeat: number }).heartbeat = 1;
    }).toThrow(TypeError);
  });

  it('lists every problem with its key, what was expected and what was given', () => {
    const problems = problemsOf(() =>
      resolveConfig({ server: { port: 'eighty' }, streams: { heartbeat: 'often', slowClient: 'ignore', bogus: 1 }, nonsense: {} }),
    );
    expect(problems).toHaveLength(5);
    expect(problems).toContain('server.port: expected number, got "eighty"');
    expect(problems.find((p) => p.startsWith('streams.heartbeat:'))).toMatch(/expected a duration .* got "often"/);
    expect(problems.find((p) => p.startsWith('streams.slowClient:'))).toMatch(/got "ignore"/);
    expect(problems).toContain('streams.bogus: unknown key');
    expect(problems).toContain('nonsense: unknown key');
  });

  it('refuses paths that collide with each other or with health checks', () => {
    const problems = problemsOf(() => resolveConfig({ publish: { path: '/events/publish' }, metrics: { path: '/healthz' } }));
    expect(problems.some((p) => p.includes('overlaps'))).toBe(true);
    expect(problems.some((p) => p.includes('reserved'))).toBe(true);
  });

  it('interpolates ${VAR} and ${VAR:-fallback} in values, never in structure', () => {
    const raw = parseConfigText('publish:\n  tokens: ["${TOKEN}"]\nserver:\n  host: "${HOST:-127.0.0.1}"\n');
    const config = resolveConfig(raw, { TOKEN: 'a-token-of-sixteen-chars\nserver: {port: 1}' });
    expect(config.publish.tokens).toEqual(['a-token-of-sixteen-chars\nserver: {port: 1}']);
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.server.port).toBe(8080);
  });

  it('names a missing environment variable', () => {
    const problems = problemsOf(() => resolveConfig({ publish: { tokens: ['${NOPE_NOT_SET}'] } }, {}));
    expect(problems).toEqual(['publish.tokens.0: environment variable NOPE_NOT_SET is not set']);
  });

  it('applies SSEG_SECTION__KEY overrides, typed by YAML and insensitive to case and underscores', () => {
    const config = resolveConfig(
      { server: { port: 1234 } },
      {
        SSEG_SERVER__PORT: '9000',
        SSEG_STREAMS__MAX_CONNECTIONS: '5',
        SSEG_STREAMS__SLOW_CLIENT: 'drop-oldest',
        SSEG_PUBLISH__TOKENS: 'first-token-0123456789,second-token-0123456789',
      },
    );
    expect(config.server.port).toBe(9000);
    expect(config.streams.maxConnections).toBe(5);
    expect(config.streams.slowClient).toBe('drop-oldest');
    expect(config.publish.tokens).toEqual(['first-token-0123456789', 'second-token-0123456789']);
  });

  it('refuses an override that names no key, suggesting the closest variable', () => {
    expect(problemsOf(() => resolveConfig({}, { SSEG_STREAMS__HEARTBEET: '1s', SSEG_STREAMS__MAXCONECTIONS: '5', SSEG_NOPE__AT_ALL: '1' }))).toEqual([
      'SSEG_STREAMS__HEARTBEET: no config key matches (streams.HEARTBEET) (did you mean SSEG_STREAMS__HEARTBEAT?)',
      'SSEG_STREAMS__MAXCONECTIONS: no config key matches (streams.MAXCONECTIONS) (did you mean SSEG_STREAMS__MAX_CONNECTIONS?)',
      'SSEG_NOPE__AT_ALL: no config key matches (NOPE)',
    ]);
  });

  it('takes an override of a text key verbatim: digits stay a string, YAML syntax stays text', () => {
    const secret = '1234567890'.repeat(4);
    const config = resolveConfig({}, { SSEG_AUTH__JWT__SECRET: secret, SSEG_AUTH__JWT__ISSUER: '*not-an-alias', SSEG_AUTH__JWT__AUDIENCE: 'a: b' });
    expect(config.auth.jwt.secret).toBe(secret);
    expect(config.auth.jwt.issuer).toBe('*not-an-alias');
    expect(config.auth.jwt.audience).toBe('a: b');
    // Not a text key: still read as YAML.
    expect(resolveConfig({}, { SSEG_DEMO__ENABLED: 'false', SSEG_LOG__LEVEL: 'warn' })).toMatchObject({ demo: { enabled: false }, log: { level: 'warn' } });
  });

  it('refuses a duration override without a unit, as in a file', () => {
    expect(problemsOf(() => resolveConfig({}, { SSEG_STREAMS__HEARTBEAT: '15' }))).toEqual([
      'streams.heartbeat: a duration needs a unit (ms, s, m, h, d), such as 500ms, 15s, 2h30m or 1.5s, got 15',
    ]);
  });

  it('lets command-line overrides win over file and environment', () => {
    const config = resolveConfig({ server: { port: 1 } }, { SSEG_SERVER__PORT: '2' }, { server: { port: 3, host: undefined } });
    expect(config.server.port).toBe(3);
  });

  it('refuses short publish tokens', () => {
    expect(problemsOf(() => resolveConfig({ publish: { tokens: ['short'] } }))[0]).toMatch(/publish\.tokens\.0: publish tokens must be at least 16/);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sseg-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a YAML file', async () => {
    const file = join(dir, 'ok.yaml');
    await writeFile(file, 'server:\n  port: 9999\nstreams:\n  heartbeat: 5s\n');
    const config = await loadConfig({ file, env: {} });
    expect(config.server.port).toBe(9999);
    expect(config.streams.heartbeat).toBe(5_000);
  });

  it('refuses YAML the gateway would read differently from its author: an unknown tag', () => {
    // The YAML library would drop `!vault` with a warning, and the gateway run on the literal text.
    expect(problemsOf(() => parseConfigText('auth:\n  jwt:\n    secret: !vault secret/sse#jwt\n', 'gw.yaml'))).toEqual([
      'gw.yaml:3:13: Unresolved tag: !vault',
    ]);
  });

  it('names the line of a YAML syntax error', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'server:\n  port: 1\n  port: 2\n');
    await expect(loadConfig({ file, env: {} })).rejects.toThrow(/broken\.yaml:3:\d+: .*unique/i);
  });

  it('names a file that cannot be read', async () => {
    await expect(loadConfig({ file: join(dir, 'missing.yaml'), env: {} })).rejects.toThrow(/missing\.yaml: cannot be read \(ENOENT\)/);
  });

  it('refuses a file that is not a mapping', async () => {
    const file = join(dir, 'list.yaml');
    await writeFile(file, '- a\n- b\n');
    await expect(loadConfig({ file, env: {} })).rejects.toThrow(/expected a mapping of sections/);
  });
});
