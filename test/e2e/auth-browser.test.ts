import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { launchChromium } from '../support/browser.ts';

const SECRET = 'browser-e2e-secret-at-least-32-characters';

/** What the page keeps on its global object (read through page.evaluate). */
interface PageState {
  received: string[];
  opened: boolean;
  failed: boolean;
  es: { close(): void };
}

/**
 * A tiny app: /login sets the session cookie (a JWT the gateway verifies) and sends the browser
 * to /, a page that opens a credentialed EventSource to the gateway and keeps the last id it saw
 * in localStorage, so a reload resumes where it left off.
 */
function startApp(gatewayOrigin: () => string): Promise<{ server: Server; port: number }> {
  const page = (gateway: string): string => `<!doctype html><meta charset="utf-8"><title>app</title><script>
    window.received = [];
    window.opened = false;
    window.failed = false;
    const last = localStorage.getItem('lastEventId');
    const url = ${JSON.stringify(`${gateway}/events/user/alice`)} + (last ? '?lastEventId=' + encodeURIComponent(last) : '');
    window.es = new EventSource(url, { withCredentials: true });
    es.onopen = () => { window.opened = true; };
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) window.failed = true; };
    es.onmessage = (event) => { window.received.push(event.data); localStorage.setItem('lastEventId', event.lastEventId); };
  </script>`;
  const server = createServer((request, response) => {
    void (async () => {
      if (request.url === '/login') {
        const token = await new SignJWT({ sub: 'alice', channels: ['user/alice'] })
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('10m')
          .sign(new TextEncoder().encode(SECRET));
        response.writeHead(302, { 'Set-Cookie': `session=${token}; Path=/; HttpOnly; SameSite=Lax`, 'Location': '/' }).end();
        return;
      }
      response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(page(gatewayOrigin()));
    })();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

describe('a browser on an allowed origin, with a session cookie', () => {
  let browser: Browser;
  let gw: TestGateway;
  let app: Awaited<ReturnType<typeof startApp>>;
  let gatewayOrigin = '';

  beforeAll(async () => {
    app = await startApp(() => gatewayOrigin);
    // Cookies are per host, not per port: the app's cookie on 127.0.0.1 reaches the gateway on 127.0.0.1.
    gw = await startGateway({ auth: { jwt: { secret: SECRET, cookie: 'session' }, cors: { origins: [`http://127.0.0.1:${app.port}`] } } });
    gatewayOrigin = gw.url;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await gw?.close();
    app?.server.closeAllConnections();
    await new Promise<void>((resolve) => (app ? app.server.close(() => resolve()) : resolve()));
  });

  it('logs in, receives events over a credentialed EventSource, reloads and resumes with nothing lost', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${app.port}/login`);
      await page.waitForFunction(() => (globalThis as unknown as PageState).opened, undefined, { timeout: 10_000 });

      await gw.publish('user/alice', 'one');
      await gw.publish('user/alice', 'two');
      await page.waitForFunction(() => (globalThis as unknown as PageState).received.length === 2, undefined, { timeout: 10_000 });
      expect(await page.evaluate(() => (globalThis as unknown as PageState).received)).toEqual(['one', 'two']);

      // Away: the stream is closed while 'three' is published; the reloaded page must get it from history.
      await page.evaluate(() => (globalThis as unknown as PageState).es.close());
      await gw.publish('user/alice', 'three');
      await page.reload();
      await page.waitForFunction(() => (globalThis as unknown as PageState).opened, undefined, { timeout: 10_000 });
      await gw.publish('user/alice', 'four');
      await page.waitForFunction(() => (globalThis as unknown as PageState).received.length >= 2, undefined, { timeout: 10_000 });
      expect(await page.evaluate(() => (globalThis as unknown as PageState).received)).toEqual(['three', 'four']);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('refuses the same page served from another origin (localhost), with no event delivered', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`http://localhost:${app.port}/login`);
      await page.waitForFunction(() => (globalThis as unknown as PageState).failed, undefined, { timeout: 10_000 });
      await gw.publish('user/alice', 'not for you');
      expect(await page.evaluate(() => (globalThis as unknown as PageState).received)).toEqual([]);
      expect(await page.evaluate(() => (globalThis as unknown as PageState).opened)).toBe(false);
      // Refused for its origin, before any credential was looked at.
      expect(gw.logs.join('\n')).toContain('SSEG_ORIGIN_NOT_ALLOWED');
    } finally {
      await context.close();
    }
  }, 60_000);
});
