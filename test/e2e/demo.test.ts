import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliProcess } from '../support/cli.ts';
import { startGateway, TEST_TOKEN, type TestGateway } from '../support/gateway.ts';
import { launchChromium } from '../support/browser.ts';

/**
 * The demo page in a real browser: what a newcomer sees in their first minute. Run with
 * UPDATE_SCREENSHOT=1 to refresh docs/demo.png (the README's picture) from this very page.
 */
const SCREENSHOT = new URL('../../docs/demo.png', import.meta.url);

describe('demo page in Chromium', () => {
  let browser: Browser;
  let gateway: TestGateway;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    gateway = await startGateway();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 760, height: 460 }, deviceScaleFactor: 1 });
    // CSP violations and script errors show up here: the page must run clean under its own policy.
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
  });
  afterAll(async () => {
    await browser.close();
    await gateway.close();
  });

  it('shows the stream live, publishes from the page, and shows events published by an app', async () => {
    const response = await page.goto(`${gateway.url}/`);
    expect(response?.status()).toBe(200);
    await page.locator('#status', { hasText: 'live' }).waitFor({ timeout: 10_000 });

    await page.fill('#message', 'hello from the browser');
    await page.click('button[type=submit]');
    const fromPage = page.locator('#events li .data', { hasText: 'hello from the browser' });
    await fromPage.waitFor({ timeout: 10_000 });

    // An app publishing the usual way, with the token the page never sees, and an event name
    // (the README's example does): the page shows named events too, not only `message`.
    await gateway.publish('demo', 'hello from the app', 'greeting');
    await page.locator('#events li .data', { hasText: 'hello from the app' }).waitFor({ timeout: 10_000 });
    // Newest first, and each shown with the id the gateway's log gave it.
    expect(await page.locator('#events li .data').allTextContents()).toEqual(['greeting: hello from the app', 'hello from the browser']);
    expect(await page.locator('#events li .id').first().textContent()).toMatch(/^[a-z0-9]+-\d+$/);
    expect(await page.inputValue('#message')).toBe('');
    expect(problems).toEqual([]);

    if (process.env['UPDATE_SCREENSHOT'] === '1') {
      await page.fill('#message', 'try it: type here and press Publish');
      await page.screenshot({ path: SCREENSHOT.pathname, type: 'png' });
    }
  });

  it('shows published text as text, never as markup', async () => {
    await gateway.publish('demo', '<img src=x onerror="document.title=\'owned\'">');
    await page.locator('#events li .data', { hasText: '<img src=x' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#events img').count()).toBe(0);
    expect(await page.title()).toBe('sse-gateway demo');
  });

  it('tells the visitor when the demo refuses to publish', async () => {
    await page.fill('#message', 'x'.repeat(280));
    // Past the input's own maxlength, as a hand-made request would be. (Typed by hand: tests compile without the DOM lib.)
    await page.locator('#message').evaluate((input: { removeAttribute(name: string): void; value: string }) => {
      input.removeAttribute('maxlength');
      input.value = 'x'.repeat(281);
    });
    await page.click('button[type=submit]');
    await page.locator('#publish-error', { hasText: '280' }).waitFor({ timeout: 10_000 });
  });
});

describe('demo publish path hardening', () => {
  let gateway: TestGateway | undefined;
  afterEach(async () => {
    await gateway?.close();
    gateway = undefined;
  });

  const demoPublish = (base: string, body: string, type = 'application/json'): Promise<Response> =>
    fetch(`${base}/demo/publish`, { method: 'POST', headers: { 'Content-Type': type }, body });

  it('never puts the publish token in the page or its script', async () => {
    gateway = await startGateway();
    for (const path of ['/', '/demo/app.js', '/demo/app.css']) {
      const response = await fetch(`${gateway.url}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await response.text()).not.toContain(TEST_TOKEN);
    }
  });

  it('publishes only to the demo channel: a channel, an event name or a batch in the body is refused', async () => {
    gateway = await startGateway();
    for (const body of [
      '{"data":"x","channel":"orders"}',
      '{"data":"x","event":"gap"}',
      '{"events":[{"channel":"orders","data":"x"}]}',
      '{"data":{"nested":true}}',
    ]) {
      const response = await demoPublish(gateway.url, body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe('SSEG_BAD_EVENT');
    }
  });

  it('refuses bodies a cross-site form could send without a CORS preflight', async () => {
    gateway = await startGateway();
    const response = await demoPublish(gateway.url, 'data=x', 'text/plain');
    expect(response.status).toBe(400);
    const preflight = await fetch(`${gateway.url}/demo/publish`, {
      method: 'OPTIONS',
      headers: { 'Origin': 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('rate-limits every visitor together with 429 and Retry-After', async () => {
    gateway = await startGateway({ demo: { publishRate: 1 } });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i += 1) {
      const response = await demoPublish(gateway.url, JSON.stringify({ data: `n${i}` }));
      statuses.push(response.status);
      if (response.status === 429) retryAfter = response.headers.get('retry-after');
      await response.body?.cancel();
    }
    // A burst of 4 × publishRate passes, then the bucket is empty.
    expect(statuses.slice(0, 4)).toEqual([200, 200, 200, 200]);
    expect(statuses).toContain(429);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('is off when disabled, and off by default when an app is configured', async () => {
    gateway = await startGateway({ demo: { enabled: false } });
    expect((await fetch(`${gateway.url}/`)).status).toBe(404);
    expect((await demoPublish(gateway.url, '{"data":"x"}')).status).toBe(404);
  });
});

describe('npm start', () => {
  let cli: CliProcess | undefined;
  afterEach(async () => {
    cli?.kill();
    await cli?.exited;
  });

  it('serves the demo page on the embedded default config', async () => {
    cli = runCli(['serve', '--port', '0', '--host', '127.0.0.1']);
    const [, address] = await cli.waitForOutput(/"address":"(http:\/\/[^"]+)"/);
    const response = await fetch(`${address ?? ''}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await response.text()).toContain('<meta name="sseg-streams" content="/events">');
  });
});
