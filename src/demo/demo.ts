import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Router } from '../http/router.ts';
import { GatewayError } from '../errors.ts';
import type { History } from '../history/history.ts';
import { decodeUtf8, readBody } from '../http/body.ts';
import { sendJson } from '../http/reply.ts';
import type { Metrics } from '../metrics/metrics.ts';

export const DEMO_CHANNEL = 'demo';
export const DEMO_PAGE_PATH = '/';
export const DEMO_PUBLISH_PATH = '/demo/publish';
export const DEMO_SCRIPT_PATH = '/demo/app.js';
export const DEMO_STYLE_PATH = '/demo/app.css';
/** One short message: enough to see it work, too little to host anything. */
export const DEMO_MAX_DATA_CHARS = 280;
const DEMO_MAX_BODY_BYTES = 2_048;

export interface DemoOptions {
  readonly streamsPath: string;
  /** Events per second for all visitors together; bursts up to BURST_FACTOR times this. */
  readonly publishRate: number;
}

const BURST_FACTOR = 4;

/**
 * Static bytes, read once: the page is three small files served as they are, with no build step.
 * The Content-Security-Policy lets them load only themselves and talk only to this origin.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const read = (name: string): Buffer => readFileSync(new URL(name, import.meta.url));

/**
 * The demo: a page on `demo` where a newcomer sees events arrive live and can publish one.
 *
 * The page must never hold the publish token (anyone who opens it could copy it), so it gets a
 * path of its own that can do almost nothing: it publishes only to the `demo` channel, only a
 * short string without an event name, under one rate limit shared by every visitor (a token
 * bucket: no per-address state to grow without bound), and only while the demo is enabled. It
 * requires `Content-Type: application/json`, which a cross-site page cannot send without a CORS
 * preflight that this path never approves: other sites cannot make their visitors publish here.
 */
export class Demo {
  private readonly page: Buffer;
  private readonly script = read('./app.js');
  private readonly style = read('./app.css');
  private readonly history: History;
  private readonly metrics: Metrics;
  private readonly ratePerMs: number;
  private readonly capacity: number;
  private tokens: number;
  private refilledAt = performance.now();

  constructor(options: DemoOptions, deps: { history: History; metrics: Metrics }) {
    this.history = deps.history;
    this.metrics = deps.metrics;
    // The streams path is validated by the config schema to URL-path characters only, so it cannot break out of the attribute.
    this.page = Buffer.from(read('./index.html').toString('utf8').replace('{{STREAMS_PATH}}', options.streamsPath));
    this.ratePerMs = options.publishRate / 1000;
    this.capacity = options.publishRate * BURST_FACTOR;
    this.tokens = this.capacity;
  }

  /** Its page, script, style and narrow publish path. */
  mount(router: Router): void {
    router.add(DEMO_PAGE_PATH, ['GET', 'HEAD'], this.servePage).add(DEMO_SCRIPT_PATH, ['GET', 'HEAD'], this.serveScript);
    router.add(DEMO_STYLE_PATH, ['GET', 'HEAD'], this.serveStyle).add(DEMO_PUBLISH_PATH, ['POST'], this.publish);
  }

  servePage = (_request: IncomingMessage, response: ServerResponse): void => {
    serveStatic(response, this.page, 'text/html; charset=utf-8');
  };

  serveScript = (_request: IncomingMessage, response: ServerResponse): void => {
    serveStatic(response, this.script, 'text/javascript; charset=utf-8');
  };

  serveStyle = (_request: IncomingMessage, response: ServerResponse): void => {
    serveStatic(response, this.style, 'text/css; charset=utf-8');
  };

  /** POST /demo/publish `{"data": "<text>"}`: one event on `demo`, if the shared budget allows. */
  publish = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const type = request.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      throw new GatewayError('SSEG_BAD_EVENT', 'the demo publishes only Content-Type: application/json bodies {"data": "<text>"}');
    }
    this.take();
    const text = decodeUtf8(await readBody(request, DEMO_MAX_BODY_BYTES));
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new GatewayError('SSEG_BAD_JSON', 'request body is not valid JSON');
    }
    const data =
      typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 1 ? (body as { data?: unknown }).data : undefined;
    if (typeof data !== 'string' || data.length === 0 || data.length > DEMO_MAX_DATA_CHARS || !data.isWellFormed()) {
      throw new GatewayError('SSEG_BAD_EVENT', `the demo publishes only {"data": "<1-${DEMO_MAX_DATA_CHARS} characters>"}`);
    }
    const [event] = await this.history.append([{ channel: DEMO_CHANNEL, data }]);
    this.metrics.eventsPublished.inc({ ingress: 'demo' });
    sendJson(response, 200, { id: event?.id });
  };

  /** Token bucket shared by every visitor; refilled lazily, so no timer runs while nobody publishes. */
  private take(): void {
    const now = performance.now();
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.refilledAt) * this.ratePerMs);
    this.refilledAt = now;
    if (this.tokens < 1) {
      const waitSeconds = Math.max(1, Math.ceil((1 - this.tokens) / this.ratePerMs / 1000));
      throw new GatewayError('SSEG_RATE_LIMITED', 'the demo is publishing as fast as it allows; try again shortly', { 'Retry-After': String(waitSeconds) });
    }
    this.tokens -= 1;
  }
}

function serveStatic(response: ServerResponse, body: Buffer, type: string): void {
  response.writeHead(200, {
    'Content-Type': type,
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  response.end(body);
}
