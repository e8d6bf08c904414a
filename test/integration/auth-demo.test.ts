import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const SECRET = 'an-hmac-secret-of-at-least-32-characters!';

let gw: TestGateway | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

const demoPublish = (url: string): Promise<Response> =>
  fetch(`${url}/demo/publish`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ data: 'hello' }) });

describe('the demo on a gateway that enforces access control', () => {
  // The demo's publish path takes no credential: left on, anyone could publish into an authenticated gateway.
  it.each([
    ['auth.jwt', { jwt: { secret: SECRET } }],
    ['auth.forward', { forward: { url: 'http://127.0.0.1:1/auth' } }],
    ['auth.ticket', { ticket: { enabled: true } }],
  ])('does not open an unauthenticated publish path when %s is on and demo.enabled is auto', async (_mode, auth) => {
    gw = await startGateway({ auth });
    const published = await demoPublish(gw.url);
    expect(published.status).toBe(404);
    expect(((await published.json()) as { error?: string }).error).toBe('SSEG_NOT_FOUND');
    expect((await fetch(`${gw.url}/`)).status).toBe(404);
    expect((await fetch(`${gw.url}/demo/app.js`)).status).toBe(404);
  });

  it('still serves the demo when demo.enabled is true: the operator asked for it', async () => {
    gw = await startGateway({ auth: { jwt: { secret: SECRET } }, demo: { enabled: true } });
    expect((await fetch(`${gw.url}/`)).status).toBe(200);
    expect((await demoPublish(gw.url)).status).toBe(200);
  });

  it('serves the demo with demo.enabled auto when no auth mode and no upstream are set', async () => {
    gw = await startGateway();
    expect((await fetch(`${gw.url}/`)).status).toBe(200);
    expect((await demoPublish(gw.url)).status).toBe(200);
  });
});
