import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { effectiveConfig, renderEffectiveConfig, secretAt } from '../../../src/config/describe.ts';
import { ConfigError, parseConfigText, resolveConfig } from '../../../src/config/load.ts';

type Printed = Record<string, Record<string, unknown>>;

describe('the effective config (check-config)', () => {
  it('prints durations and sizes with units, as the schema reads them', () => {
    const printed = effectiveConfig(resolveConfig({ streams: { heartbeat: '90s', coalesce: 0 }, history: { maxAge: '2h30m' } })) as Printed;
    expect(printed['streams']).toMatchObject({ heartbeat: '1m30s', retry: '3s', coalesce: '0s', clientBufferBytes: '256kb' });
    expect(printed['history']).toMatchObject({ maxAge: '2h30m' });
    expect(printed['publish']).toMatchObject({ maxBodyBytes: '1mb', hmacTolerance: '5m' });
    expect(printed['server']).toMatchObject({ shutdownTimeout: '10s', port: 8080 });
  });

  it('reads back as the same config: the embedded default', () => {
    const config = resolveConfig({});
    expect(resolveConfig(parseConfigText(renderEffectiveConfig(config)))).toEqual(config);
  });

  it('reads back as the same config: every duration and size changed, list items included', () => {
    const config = resolveConfig({
      server: { shutdownTimeout: '1s500ms' },
      streams: { heartbeat: '25s', retry: '750ms', coalesce: 0, clientBufferBytes: 1000 },
      history: { maxAge: '36h', maxEvents: 5 },
      publish: { maxBodyBytes: '1.5mb', hmacTolerance: '90s' },
      auth: { jwt: { jwksCooldown: '1m', clockTolerance: 0 }, forward: { timeout: '1500ms', cacheTtl: 0 }, ticket: { ttl: '2m' } },
      ingress: { upstreamSse: [{ url: 'http://127.0.0.1:3000/live', channel: 'c', idleTimeout: '1h1s' }] },
      redis: { commandTimeout: '2500ms', leaseTtl: '10s' },
      upstream: { connectTimeout: '1d', responseTimeout: '45s' },
    });
    const text = renderEffectiveConfig(config);
    expect(text).toContain('clientBufferBytes: 1000b');
    expect(text).toContain('idleTimeout: 1h1s');
    expect(resolveConfig(parseConfigText(text))).toEqual(config);
  });

  it('masks secrets: tokens whole, URLs down to their credentials and query, header values whole', () => {
    const config = resolveConfig({
      publish: { tokens: ['a-real-token-0123456789'], hmacSecrets: ['h'.repeat(32)] },
      redis: { url: 'redis://app:hunter2@cache:6379/2' },
      auth: { forward: { url: 'https://gw:hunter2@app.internal/auth?key=hunter2' } },
      upstream: { url: 'http://hunter2@app:3000' },
      ingress: { upstreamSse: [{ url: 'https://feed.internal/live?token=hunter2', channel: 'prices', headers: { Authorization: 'Bearer hunter2' } }] },
    });
    const text = renderEffectiveConfig(config);
    expect(text).not.toMatch(/hunter2|a-real-token|hhhh/);
    const printed = parse(text) as Printed;
    expect(printed['publish']).toMatchObject({ tokens: ['***'], hmacSecrets: ['***'] });
    expect(printed['redis']?.['url']).toBe('redis://app:***@cache:6379/2');
    expect((printed['auth']?.['forward'] as Record<string, unknown>)['url']).toBe('https://gw:***@app.internal/auth?key=***');
    expect(printed['upstream']?.['url']).toBe('http://***@app:3000');
    expect(printed['ingress']?.['upstreamSse']).toEqual([
      { url: 'https://feed.internal/live?token=***', channel: 'prices', headers: { Authorization: '***' }, idleTimeout: '5m' },
    ]);
  });

  it('leaves an unset secret empty, so the default reads back (*** would not load)', () => {
    const printed = effectiveConfig(resolveConfig({})) as Printed;
    expect((printed['auth']?.['jwt'] as Record<string, unknown>)['secret']).toBe('');
    expect(printed['redis']?.['url']).toBe('redis://127.0.0.1:6379');
  });

  it('refuses its own masked output as a config, naming the masked keys', () => {
    const text = renderEffectiveConfig(resolveConfig({ publish: { tokens: ['a-real-token-0123456789'] } }));
    expect(() => resolveConfig(parseConfigText(text))).toThrow(ConfigError);
    expect(() => resolveConfig(parseConfigText(text))).toThrow(/publish\.tokens\.0: is the mask check-config prints/);
  });

  it('knows which paths are secret, down to list items and record values', () => {
    expect(secretAt(['publish', 'tokens', '0'])).toBe(true);
    expect(secretAt(['ingress', 'upstreamSse', '3', 'headers', 'Authorization'])).toBe(true);
    expect(secretAt(['ingress', 'upstreamSse', '3', 'url'])).toBe('url');
    expect(secretAt(['ingress', 'upstreamSse', '3', 'channel'])).toBeUndefined();
    expect(secretAt(['streams', 'heartbeat'])).toBeUndefined();
  });
});
