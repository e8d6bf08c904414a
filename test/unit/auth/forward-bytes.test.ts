import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SILENT_REPORT } from '../../../src/auth/authenticator.ts';
import { ForwardAuthenticator } from '../../../src/auth/forward.ts';
import { resolveConfig } from '../../../src/config/load.ts';
import { GatewayError } from '../../../src/errors.ts';

/**
 * node:http and the front door refuse control bytes in header values before forward auth sees
 * them; this is the check behind them, for any path that ever hands such a value on.
 */
describe('forward auth and credentials no HTTP header may carry', () => {
  let asked = 0;
  const app = createServer((_request, response) => {
    asked += 1;
    response.writeHead(200, { 'X-SSEG-Channels': '**' }).end();
  });
  let auth: ForwardAuthenticator;
  beforeAll(async () => {
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const { port } = app.address() as AddressInfo;
    auth = new ForwardAuthenticator(resolveConfig({ auth: { forward: { url: `http://127.0.0.1:${port}/auth` } } }).auth.forward, SILENT_REPORT);
  });
  afterAll(async () => {
    await auth.close();
    await new Promise((resolve) => app.close(resolve));
  });

  it.each([
    ['ESC in a cookie', { cookie: 'sid=a\u001bb' }],
    ['NUL in a cookie', { cookie: 'sid=a\u0000b' }],
    ['DEL in an Authorization header', { authorization: 'Session a\u007fb' }],
  ])("%s is the client's 401, not an outage, and the app is never asked", async (_case, headers) => {
    const before = asked;
    const error = await auth.authenticate({ headers, url: new URL('http://gw/events/a'), channels: ['a'] }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('SSEG_UNAUTHORIZED');
    expect(asked).toBe(before);
  });
});
