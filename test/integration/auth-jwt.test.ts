import { createSign, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/config/load.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

const SECRET = 'an-hmac-secret-of-at-least-32-characters!';
const key = new TextEncoder().encode(SECRET);
const now = (): number => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>, secret: Uint8Array = key): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m').sign(secret);
}

const opened: StreamClient[] = [];
async function get(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  const client = await openStream(url, headers);
  opened.push(client);
  return client;
}
const body = (client: StreamClient): { error?: string; message?: string } => JSON.parse(client.raw()) as { error?: string };

afterEach(() => {
  for (const client of opened.splice(0)) client.close();
});

describe('jwt with an HMAC secret', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({
      // No clock tolerance here, so a stream ends at exp itself (the tolerance has its own tests below).
      auth: { jwt: { secret: SECRET, cookie: 'session', audience: 'sse', issuer: 'https://app.test', clockTolerance: '0s' }, public: ['news/**'] },
    });
  });
  afterAll(() => gw.close());
  const claims = { aud: 'sse', iss: 'https://app.test', sub: 'user-1', channels: ['a/*', 'user/1'] };

  it('opens a public channel with no credential at all', async () => {
    const client = await get(`${gw.url}/events/news/today`);
    expect(client.status).toBe(200);
  });

  it('answers 401 with no credential for a channel that is not public', async () => {
    const client = await get(`${gw.url}/events/a/b`);
    expect(client.status).toBe(401);
    expect(body(client).error).toBe('SSEG_UNAUTHORIZED');
    expect(client.headers['www-authenticate']).toMatch(/^Bearer/);
  });

  it('grants a/b with a claim of a/* and refuses b with 403, no stream opened', async () => {
    const token = await hs256(claims);
    const allowed = await get(`${gw.url}/events/a/b`, { Authorization: `Bearer ${token}` });
    expect(allowed.status).toBe(200);
    const refused = await get(`${gw.url}/events/b`, { Authorization: `Bearer ${token}` });
    expect(refused.status).toBe(403);
    expect(body(refused).error).toBe('SSEG_FORBIDDEN');
    const deeper = await get(`${gw.url}/events/a/b/c`, { Authorization: `Bearer ${token}` });
    expect(deeper.status).toBe(403);
  });

  it('refuses a multi-channel request that names one ungranted channel, whole', async () => {
    const token = await hs256(claims);
    const client = await get(`${gw.url}/events?channel=a/b&channel=secret`, { Authorization: `Bearer ${token}` });
    expect(client.status).toBe(403);
    expect(client.headers['content-type']).toMatch(/json/);
  });

  it('delivers events on the granted channel', async () => {
    const token = await hs256(claims);
    const client = await get(`${gw.url}/events/user/1`, { Cookie: `other=1; session=${token}` });
    expect(client.status).toBe(200);
    await gw.publish('user/1', 'hello');
    const [event] = await client.waitForEvents(1);
    expect(event?.data).toBe('hello');
  });

  it('refuses alg none', async () => {
    const token = new UnsecuredJWT({ ...claims, exp: now() + 60 }).encode();
    const client = await get(`${gw.url}/events/a/b`, { Authorization: `Bearer ${token}` });
    expect(client.status).toBe(401);
  });

  it('refuses a token signed with another secret', async () => {
    const token = await hs256(claims, new TextEncoder().encode('another-secret-that-is-also-32-characters'));
    const client = await get(`${gw.url}/events/a/b`, { Authorization: `Bearer ${token}` });
    expect(client.status).toBe(401);
    expect(body(client).message).not.toMatch(/signature verification|jose|JWS/i);
  });

  it('refuses an expired token, and one not valid yet, beyond the clock tolerance', async () => {
    const expired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now() - 60)
      .sign(key);
    const early = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setNotBefore(now() + 60)
      .setExpirationTime('5m')
      .sign(key);
    expect((await get(`${gw.url}/events/a/b`, { Authorization: `Bearer ${expired}` })).status).toBe(401);
    expect((await get(`${gw.url}/events/a/b`, { Authorization: `Bearer ${early}` })).status).toBe(401);
  });

  it('refuses a token for another audience or issuer', async () => {
    const otherAudience = await hs256({ ...claims, aud: 'billing' });
    const otherIssuer = await hs256({ ...claims, iss: 'https://evil.test' });
    expect((await get(`${gw.url}/events/a/b`, { Authorization: `Bearer ${otherAudience}` })).status).toBe(401);
    expect((await get(`${gw.url}/events/a/b`, { Authorization: `Bearer ${otherIssuer}` })).status).toBe(401);
  });

  it('prefers the Authorization header over the cookie', async () => {
    const headerToken = await hs256({ ...claims, channels: ['from-header'] });
    const cookieToken = await hs256({ ...claims, channels: ['from-cookie'] });
    const both = { Authorization: `Bearer ${headerToken}`, Cookie: `session=${cookieToken}` };
    expect((await get(`${gw.url}/events/from-header`, both)).status).toBe(200);
    expect((await get(`${gw.url}/events/from-cookie`, both)).status).toBe(403);
    expect((await get(`${gw.url}/events/from-cookie`, { Cookie: `session=${cookieToken}` })).status).toBe(200);
  });

  it('ignores a token in the query string unless auth.jwt.queryParam is set', async () => {
    const token = await hs256(claims);
    expect((await get(`${gw.url}/events/a/b?access_token=${token}`)).status).toBe(401);
  });

  it('ends the stream when the token expires, and the client resumes by Last-Event-ID with nothing lost', async () => {
    const shortLived = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now() + 2)
      .sign(key);
    const client = await get(`${gw.url}/events/user/1`, { Authorization: `Bearer ${shortLived}` });
    expect(client.status).toBe(200);
    const first = await gw.publish('user/1', 'before');
    await client.waitForEvents(1);
    await client.waitForEnd(6_000);
    await vi.waitFor(async () => {
      const closed = await gw.gateway.metrics.connectionsClosed.get();
      expect(closed.values.find((value) => value.labels.reason === 'expired')?.value).toBeGreaterThanOrEqual(1);
    });
    await gw.publish('user/1', 'while-away');
    const fresh = await hs256(claims);
    const resumed = await get(`${gw.url}/events/user/1`, { 'Authorization': `Bearer ${fresh}`, 'Last-Event-ID': first });
    const [event] = await resumed.waitForEvents(1);
    expect(event?.data).toBe('while-away');
  });

  it('never writes a token into the logs', async () => {
    const token = await hs256(claims);
    await get(`${gw.url}/events/b`, { Authorization: `Bearer ${token}` });
    await get(`${gw.url}/events/a/b`, { Cookie: `session=${token}` });
    const signature = token.split('.')[2] ?? token;
    expect(gw.logs.join('\n')).not.toContain(signature);
  });
});

describe('jwt query parameter, dropUnauthorized', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ auth: { jwt: { secret: SECRET, queryParam: 'access_token' }, dropUnauthorized: true } });
  });
  afterAll(() => gw.close());

  it('accepts the token from the configured query parameter', async () => {
    const token = await hs256({ channels: ['a/*'] });
    expect((await get(`${gw.url}/events/a/b?access_token=${token}`)).status).toBe(200);
  });

  it('redacts a query-parameter token from the log line of a refused stream', async () => {
    const token = await hs256({ channels: ['a/*'] });
    expect((await get(`${gw.url}/events/secret?access_token=${token}&lastEventId=x`)).status).toBe(403);
    const logs = gw.logs.join('\n');
    expect(logs).toContain('stream refused');
    expect(logs).toContain('access_token=%5Bredacted%5D');
    expect(logs).not.toContain(token.split('.')[2] ?? token);
  });

  it('drops ungranted channels from a multi-channel request, and refuses when none is left', async () => {
    const token = await hs256({ channels: ['a/*'] });
    const client = await get(`${gw.url}/events?channel=a/b&channel=secret`, { Authorization: `Bearer ${token}` });
    expect(client.status).toBe(200);
    await gw.publish('secret', 'hidden');
    await gw.publish('a/b', 'shown');
    const [event] = await client.waitForEvents(1);
    expect(event?.data).toBe('shown');
    expect(client.events).toHaveLength(1);
    expect((await get(`${gw.url}/events/secret`, { Authorization: `Bearer ${token}` })).status).toBe(403);
  });
});

describe('jwt with the default clockTolerance (5s) and a channelsClaim of its own', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ auth: { jwt: { secret: SECRET, channelsClaim: 'sse_channels' } } });
  });
  afterAll(() => gw.close());
  const expiringAt = (exp: number) => new SignJWT({ sse_channels: ['a'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(exp).sign(key);

  it('opens a stream on a token that expired within the tolerance, and ends it at exp + tolerance, not at once', async () => {
    const exp = now() - 2;
    const client = await get(`${gw.url}/events/a`, { Authorization: `Bearer ${await expiringAt(exp)}` });
    expect(client.status).toBe(200);
    await gw.publish('a', 'still-good');
    expect((await client.waitForEvents(1))[0]?.data).toBe('still-good');
    await client.waitForEnd(6_000);
    // Timers may fire a little early, never seconds early.
    expect(Date.now()).toBeGreaterThanOrEqual((exp + 5) * 1000 - 50);
  });

  it('refuses a token that expired longer ago than the tolerance', async () => {
    const client = await get(`${gw.url}/events/a`, { Authorization: `Bearer ${await expiringAt(now() - 60)}` });
    expect(client.status).toBe(401);
    expect(body(client).error).toBe('SSEG_UNAUTHORIZED');
  });

  it('reads the grants from auth.jwt.channelsClaim, as an array or a space-separated string, and not from `channels`', async () => {
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${await hs256({ sse_channels: ['a'] })}` })).status).toBe(200);
    expect((await get(`${gw.url}/events/b/1`, { Authorization: `Bearer ${await hs256({ sse_channels: 'a b/*' })}` })).status).toBe(200);
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${await hs256({ channels: ['a'] })}` })).status).toBe(403);
  });
});

describe('jwt with a public key', () => {
  let gw: TestGateway;
  let rsa: Awaited<ReturnType<typeof generateKeyPair>>;
  let pem: string;
  beforeAll(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    pem = await exportSPKI(rsa.publicKey);
    gw = await startGateway({ auth: { jwt: { publicKey: pem } } });
  });
  afterAll(() => gw.close());

  it('accepts RS256 signed by the matching private key', async () => {
    const token = await new SignJWT({ channels: ['a'] }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1m').sign(rsa.privateKey);
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('refuses HS256 signed with the public key as the HMAC secret (key type confusion)', async () => {
    const token = await new SignJWT({ channels: ['a'] }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(new TextEncoder().encode(pem));
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${token}` })).status).toBe(401);
  });

  // Refused by the algorithm list the RSA key fixes, before any key is looked at.
  it('refuses ES256 when the configured key is RSA (algorithm not allowed)', async () => {
    const ec = await generateKeyPair('ES256');
    const token = await new SignJWT({ channels: ['a'] }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('1m').sign(ec.privateKey);
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${token}` })).status).toBe(401);
  });
});

describe('jwt with other static public keys', () => {
  const gateways: TestGateway[] = [];
  afterAll(() => Promise.all(gateways.map((gw) => gw.close())));
  async function gatewayFor(publicKey: string): Promise<TestGateway> {
    const gw = await startGateway({ auth: { jwt: { publicKey } } });
    gateways.push(gw);
    return gw;
  }

  it('verifies ES384 with an EC P-384 key, and answers 401 (not 503) to ES256 from a P-256 key', async () => {
    const p384 = await generateKeyPair('ES384', { extractable: true });
    const gw = await gatewayFor(await exportSPKI(p384.publicKey));
    const token = await new SignJWT({ channels: ['a'] }).setProtectedHeader({ alg: 'ES384' }).setExpirationTime('1m').sign(p384.privateKey);
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${token}` })).status).toBe(200);
    const p256 = await generateKeyPair('ES256');
    const other = await new SignJWT({ channels: ['a'] }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('1m').sign(p256.privateKey);
    const refused = await get(`${gw.url}/events/a`, { Authorization: `Bearer ${other}` });
    expect(refused.status).toBe(401);
  });

  it('verifies EdDSA with an Ed25519 key', async () => {
    const ed = await generateKeyPair('EdDSA', { extractable: true });
    const gw = await gatewayFor(await exportSPKI(ed.publicKey));
    const token = await new SignJWT({ channels: ['a'] }).setProtectedHeader({ alg: 'EdDSA' }).setExpirationTime('1m').sign(ed.privateKey);
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it('refuses to start with a key no JWS algorithm fits (EC secp256k1), naming the key', async () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    const publicKey = String(k1.publicKey.export({ type: 'spki', format: 'pem' }));
    await expect(startGateway({ auth: { jwt: { publicKey } } })).rejects.toThrow(ConfigError);
    await expect(startGateway({ auth: { jwt: { publicKey } } })).rejects.toThrow(/auth\.jwt\.publicKey: the EC curve secp256k1 has no JWS algorithm/);
  });
});

describe('jwt with a JWKS URL', () => {
  let gw: TestGateway;
  let jwksServer: Server;
  let served: JWK[] = [];
  let fetches = 0;
  beforeAll(async () => {
    jwksServer = createServer((_request, response) => {
      fetches += 1;
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const { port } = jwksServer.address() as AddressInfo;
    gw = await startGateway({ auth: { jwt: { jwksUrl: `http://127.0.0.1:${port}/jwks.json`, jwksCooldown: '0ms' } } });
  });
  afterAll(async () => {
    await gw.close();
    await new Promise<void>((resolve) => jwksServer.close(() => resolve()));
  });

  async function keyPair(kid: string, alg: 'ES256' | 'ES384' | 'ES512' | 'EdDSA') {
    const pair = await generateKeyPair(alg, { extractable: true });
    const jwk = { ...(await exportJWK(pair.publicKey)), kid, alg };
    const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg, kid }).setExpirationTime('1m').sign(pair.privateKey);
    return { jwk, sign };
  }

  it('follows a key rotation: a new kid refetches the set, a removed key stops working', async () => {
    const first = await keyPair('k1', 'ES256');
    served = [first.jwk];
    const t1 = await first.sign({ channels: ['a'] });
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${t1}` })).status).toBe(200);
    const fetchesBefore = fetches;
    // A known kid is served from the cached set, even with jwksCooldown 0: no fetch per stream.
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${await first.sign({ channels: ['a'] })}` })).status).toBe(200);
    expect(fetches).toBe(fetchesBefore);

    const second = await keyPair('k2', 'EdDSA');
    served = [second.jwk];
    const t2 = await second.sign({ channels: ['a'] });
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${t2}` })).status).toBe(200);
    expect(fetches).toBeGreaterThan(fetchesBefore);

    // k1 is gone from the set now: its tokens find no key.
    const again = await first.sign({ channels: ['a'] });
    expect((await get(`${gw.url}/events/a`, { Authorization: `Bearer ${again}` })).status).toBe(401);
  });

  it.each([
    ['ES384', 'P-384'],
    ['ES512', 'P-521'],
  ] as const)('verifies %s with an EC %s key from the set', async (alg, crv) => {
    const pair = await keyPair(`k-${alg}`, alg);
    expect(pair.jwk.crv).toBe(crv);
    served = [pair.jwk];
    const client = await get(`${gw.url}/events/a`, { Authorization: `Bearer ${await pair.sign({ channels: ['a'] })}` });
    expect(client.status).toBe(200);
  });

  it('answers 401, not 503, when the key a token names cannot verify it (an RSA key under 2048 bits)', async () => {
    // jose's key check throws a TypeError here, with no code; jose refuses to sign with such a key, so node:crypto does.
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
    served = [{ ...(await exportJWK(weak.publicKey)), kid: 'weak', alg: 'RS256' }];
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const signingInput = `${part({ alg: 'RS256', kid: 'weak' })}.${part({ channels: ['a'], exp: now() + 60 })}`;
    const token = `${signingInput}.${createSign('RSA-SHA256').update(signingInput).sign(weak.privateKey).toString('base64url')}`;
    const client = await get(`${gw.url}/events/a`, { Authorization: `Bearer ${token}` });
    expect(client.status).toBe(401);
    expect(body(client).error).toBe('SSEG_UNAUTHORIZED');
  });

  it('answers 504 when the JWKS server is slow rather than down, after auth.forward.timeout', async () => {
    const held: ServerResponse[] = [];
    const slow = createServer((_request, response) => held.push(response));
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const { port } = slow.address() as AddressInfo;
    const waiting = await startGateway({ auth: { jwt: { jwksUrl: `http://127.0.0.1:${port}/jwks.json` }, forward: { timeout: '200ms' } } });
    try {
      const pair = await keyPair('k8', 'ES256');
      const client = await get(`${waiting.url}/events/a`, { Authorization: `Bearer ${await pair.sign({ channels: ['a'] })}` });
      expect(client.status).toBe(504);
      expect(body(client).error).toBe('SSEG_AUTH_TIMEOUT');
      expect(held.length).toBe(1);
    } finally {
      await waiting.close();
      slow.closeAllConnections();
      await new Promise<void>((resolve) => slow.close(() => resolve()));
    }
  });

  it('answers 503, never "allowed", when the JWKS cannot be fetched', async () => {
    const unreachable = await startGateway({ auth: { jwt: { jwksUrl: 'http://127.0.0.1:1/jwks.json' } } });
    try {
      const pair = await keyPair('k9', 'ES256');
      const token = await pair.sign({ channels: ['a'] });
      const client = await get(`${unreachable.url}/events/a`, { Authorization: `Bearer ${token}` });
      expect(client.status).toBe(503);
      expect(body(client).error).toBe('SSEG_AUTH_UNAVAILABLE');
    } finally {
      await unreachable.close();
    }
  });
});
