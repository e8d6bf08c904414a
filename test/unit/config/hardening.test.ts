import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfig, parseConfigText, resolveConfig } from '../../../src/config/load.ts';
import { problemsOf } from './problems.ts';

/**
 * Config errors end up in terminals, CI logs and bug reports: each test here is a way a secret
 * could reach one through an error message, and checks it names the key and the rule instead.
 */
const SECRET = 'hunter2-s3cr3t';

/** The problems, asserted free of the secret, joined for matching. */
function refusal(run: () => unknown, secret = SECRET): string {
  const problems = problemsOf(run);
  expect(problems.length).toBeGreaterThan(0);
  const text = problems.join('\n');
  expect(text).not.toContain(secret);
  return text;
}

describe('config errors never echo a secret', () => {
  it('a publish token too short: named, not shown', () => {
    expect(refusal(() => resolveConfig({ publish: { tokens: [SECRET] } }))).toBe(
      'publish.tokens.0: publish tokens must be at least 16 characters, got a secret of 14 characters (not shown)',
    );
  });

  it('publish tokens given as text instead of a list', () => {
    expect(refusal(() => resolveConfig({ publish: { tokens: `${SECRET}-0123456789` } }))).toMatch(
      /^publish\.tokens: expected array, got a secret of \d+ characters \(not shown\)$/,
    );
  });

  it('an HMAC secret too short', () => {
    expect(refusal(() => resolveConfig({ publish: { hmacSecrets: [SECRET] } }))).toMatch(
      /^publish\.hmacSecrets\.0: HMAC secrets must be at least 32 characters, got a secret/,
    );
  });

  it('a JWT secret too short', () => {
    expect(refusal(() => resolveConfig({ auth: { jwt: { secret: SECRET } } }))).toBe(
      'auth.jwt.secret: must be at least 32 characters, got a secret of 14 characters (not shown)',
    );
  });

  it('a JWT secret beside a JWKS URL: the "only one of" rule does not print the mapping', () => {
    const secret = `${SECRET}-${'x'.repeat(32)}`;
    expect(refusal(() => resolveConfig({ auth: { jwt: { secret, jwksUrl: 'https://id.example.com/jwks' } } }), SECRET)).toBe(
      'auth.jwt: set only one of secret, publicKey, jwksUrl',
    );
  });

  it('a Redis URL with a password that fails its pattern', () => {
    expect(refusal(() => resolveConfig({ redis: { url: `http://:${SECRET}@cache:6379` } }))).toBe(
      'redis.url: expected redis://[user:password@]host:port[/db] or rediss://…, got "http://:***@cache:6379"',
    );
  });

  it('a Redis URL whose password sits in the query', () => {
    expect(refusal(() => resolveConfig({ redis: { url: `cache:6379?password=${SECRET}` } }))).toContain('got "cache:6379?password=***"');
  });

  it('a forward-auth URL with credentials that is not http(s)', () => {
    expect(refusal(() => resolveConfig({ auth: { forward: { url: `ftp://gateway:${SECRET}@app.internal/auth` } } }))).toBe(
      'auth.forward.url: expected an http(s) URL, got "ftp://gateway:***@app.internal/auth"',
    );
  });

  it('a JWKS URL and an upstream URL with credentials', () => {
    expect(refusal(() => resolveConfig({ auth: { jwt: { jwksUrl: `ldap://${SECRET}@id.example.com` } } }))).toContain('got "ldap://***@id.example.com"');
    expect(refusal(() => resolveConfig({ upstream: { url: `tcp://app:${SECRET}@app:3000` } }))).toContain('got "tcp://app:***@app:3000"');
  });

  it('an upstream SSE endpoint: a bad URL keeps its host, a bad header shows no value', () => {
    const text = refusal(() =>
      resolveConfig({
        ingress: {
          upstreamSse: [
            { url: `ws://feed:${SECRET}@app/live?token=${SECRET}`, channel: 'prices', headers: { 'Authorization': 12_345_678, 'X-Key': [SECRET] } },
          ],
        },
      }),
    );
    expect(text).toContain('ingress.upstreamSse.0.url: expected an http:// or https:// URL of an SSE endpoint, got "ws://feed:***@app/live?token=***"');
    expect(text).toContain('ingress.upstreamSse.0.headers.Authorization: expected string, got a number (not shown)');
    expect(text).not.toContain('12345678');
    expect(text).toContain('ingress.upstreamSse.0.headers.X-Key: expected string, got a list of 1 (not shown)');
  });

  it('a numeric secret from the environment is neither read as a number nor reprinted as one', () => {
    const text = refusal(() => resolveConfig({}, { SSEG_AUTH__JWT__SECRET: '271828182845' }), '271828182845');
    expect(text).toBe('auth.jwt.secret: must be at least 32 characters, got a secret of 12 characters (not shown)');
    expect(text).not.toMatch(/2\.7\d*e\+11/);
  });

  it('a secret from ${VAR} interpolation that fails its rule', () => {
    expect(refusal(() => resolveConfig(parseConfigText('publish:\n  tokens: ["${TOKEN}"]\n'), { TOKEN: SECRET }))).toMatch(
      /^publish\.tokens\.0: .*got a secret of 14 characters/,
    );
  });

  it('a file that is a bare token, given as --config by mistake', () => {
    expect(refusal(() => resolveConfig(parseConfigText(`${SECRET}-0123456789\n`)))).toBe('config: expected a mapping of sections, got a string');
  });

  it('a YAML syntax error on a secret line does not quote the line', () => {
    expect(refusal(() => parseConfigText(`publish:\n  tokens: ["${SECRET}\n`, 'gw.yaml'))).toMatch(/^gw\.yaml:3:1: Missing closing "quote/);
    expect(refusal(() => parseConfigText(`auth:\n  jwt:\n    secret: "${SECRET}\\q"\n`, 'gw.yaml'))).toMatch(/^gw\.yaml:3:\d+: Invalid escape sequence/);
  });

  it('a YAML tag on a secret line is refused, and its warning (which quotes the line) never printed', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      expect(refusal(() => parseConfigText(`auth:\n  jwt:\n    secret: !vault ${SECRET}\n`, 'gw.yaml'))).toBe('gw.yaml:3:13: Unresolved tag: !vault');
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('a secret starting with * (a YAML alias) is not quoted by the alias error', () => {
    expect(refusal(() => parseConfigText(`publish:\n  tokens: [*${SECRET}]\n`, 'gw.yaml'))).toBe('gw.yaml: an alias (*name) refers to no anchor set before it');
  });

  it('a key misplaced under another section keeps its value hidden', () => {
    const text = refusal(() => resolveConfig({ publish: { secret: SECRET }, auth: { jwt: { secrets: [SECRET] } } }));
    expect(text).toContain('publish.secret: unknown key');
    expect(text).toContain('auth.jwt.secrets: unknown key (did you mean auth.jwt.secret?)');
  });
});

describe('loadConfig errors never echo a secret', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sseg-hardening-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a whole file of problems, through the message the CLI prints', async () => {
    const file = join(dir, 'leaky.yaml');
    await writeFile(file, `publish:\n  tokens: [${SECRET}]\nredis:\n  url: "redis//:${SECRET}@cache"\nauth:\n  jwt:\n    secret: ${SECRET}\n`);
    const error = await loadConfig({ file, env: {} }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).not.toContain(SECRET);
    expect(message).toMatch(/publish\.tokens\.0: /);
    expect(message).toMatch(/redis\.url: /);
    expect(message).toMatch(/auth\.jwt\.secret: /);
  });
});
