import { Agent, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { GatewayError } from '../errors.ts';
import { sendError, writeSocketError } from '../http/reply.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/metrics.ts';

export interface AppProxyOptions {
  /** The app's origin (and optional base path), e.g. http://127.0.0.1:3000. */
  readonly url: string;
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly maxSockets: number;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1 and the older list of RFC 2616 §13.5.1) describe one
 * connection, not the message: the client's `Connection: close` must not close a pooled
 * connection to the app, and the app's `Keep-Alive: timeout=5` says nothing about the browser's
 * connection to us. Transfer-Encoding is left to Node, which decodes it on the way in and frames
 * each hop afresh on the way out. Expect is dropped because Node has already answered the
 * client's 100-continue by the time the request reaches us.
 */
const REQUEST_HOP_HEADERS = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'expect'];
const RESPONSE_HOP_HEADERS = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'proxy-authenticate'];

/**
 * Fields that a Connection header can never remove, in either direction or on the websocket
 * path. RFC 9110 §7.6.1 forbids a sender to name a field meant for every recipient; a sender
 * that does anyway is not asking for a hop-by-hop field, it is trying to make the next hop see
 * a different message. Obeying it let a client send `Connection: close, host` (the app then gets
 * the gateway's idea of its host) or `Connection: x-forwarded-for` (erasing the address nginx
 * in front vouched for). So these stay, whatever Connection says:
 * - routing and framing: Host, Content-Length, Transfer-Encoding (Node re-frames each hop, but the
 *   length is part of the message: HEAD, ranges, an app's own limit);
 * - what the gateway or a proxy in front vouches for: Forwarded, X-Forwarded-*, X-Real-IP;
 * - what the content is and who sends it: Content-Type, Content-Encoding, Authorization, Cookie,
 *   Set-Cookie (the app decides on the credential forward auth saw, not a trimmed one);
 * - the websocket handshake, which the app checks end to end.
 * Any other name in Connection (keep-alive, an `X-Client-Hop` of the client's own) is still removed.
 */
const NEVER_HOP_BY_HOP = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'content-type',
  'content-encoding',
  'authorization',
  'cookie',
  'set-cookie',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-proto',
  'x-real-ip',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/** What one in-flight proxied request needs beyond what http-proxy-3 keeps. */
interface Pending {
  readonly timer: NodeJS.Timeout;
  proxyReq: ClientRequest | undefined;
  timedOut: boolean;
  /** The client asked for `Connection: close`: say so in the response we relay, since its own header was removed. */
  readonly clientClose: boolean;
  /** Websockets: the app answered (101 or otherwise), so any later error is not ours to report on the socket. */
  answered: boolean;
}

/**
 * Everything that is not the gateway's own goes to the app (ARCHITECTURE: proxy/), through
 * http-proxy-3 on a keep-alive pool with a bounded number of sockets. The app being down or slow
 * becomes a 502 or 504 with a JSON body, never a hang: a response timer runs from the moment the
 * request is handed over (so time spent queued for a pooled socket counts) until the app's
 * response headers arrive; after that the body streams as long as it likes, which is what the
 * app's own SSE endpoints need. http-proxy-3's `proxyTimeout` is not used for this because it is a
 * socket idle timer: it would cut an app's quiet SSE stream.
 */
export class AppProxy {
  private readonly proxy: ProxyServer;
  private readonly agent: Agent;
  private readonly pending = new WeakMap<IncomingMessage, Pending>();
  /** Client sockets of websockets in flight: once upgraded they are no longer the HTTP server's to close. */
  private readonly upgraded = new Set<Duplex>();
  private readonly options: AppProxyOptions;
  private readonly metrics: Metrics;
  private readonly logger: Logger;

  constructor(options: AppProxyOptions, deps: { metrics: Metrics; logger: Logger }) {
    this.options = options;
    this.metrics = deps.metrics;
    this.logger = deps.logger;
    // lifo hands out the most recently used socket, so idle ones age out under the app's keep-alive timeout.
    // No `timeout` here: an Agent timeout would also fire on a long, quiet streaming response.
    this.agent = new Agent({ keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: Math.min(options.maxSockets, 64), scheduling: 'lifo' });
    this.proxy = createProxyServer({ target: options.url, xfwd: true, agent: this.agent, connectTimeout: options.connectTimeout });

    this.proxy.on('proxyReq', (proxyReq, request) => {
      const pending = this.pending.get(request);
      if (pending === undefined) return;
      pending.proxyReq = proxyReq;
      // Timed out while queued for a pooled socket: the client already has its 504.
      if (pending.timedOut) proxyReq.destroy(timeoutError());
    });
    this.proxy.on('proxyReqWs', (proxyReq, request) => {
      const pending = this.pending.get(request);
      if (pending === undefined) return;
      pending.proxyReq = proxyReq;
      const answered = (status: number | undefined): void => {
        pending.answered = true;
        clearTimeout(pending.timer);
        this.metrics.proxyRequests.inc({ kind: 'websocket', outcome: status === 101 ? '101' : statusClass(status) });
      };
      proxyReq.once('upgrade', (proxyRes: IncomingMessage) => answered(proxyRes.statusCode));
      proxyReq.once('response', (proxyRes: IncomingMessage) => answered(proxyRes.statusCode));
    });
    this.proxy.on('proxyRes', (proxyRes, request, response) => {
      const pending = this.pending.get(request);
      if (pending !== undefined) clearTimeout(pending.timer);
      stripHopHeaders(proxyRes.headers, RESPONSE_HOP_HEADERS);
      if (pending?.clientClose) proxyRes.headers.connection = 'close';
      this.metrics.proxyRequests.inc({ kind: 'http', outcome: statusClass(proxyRes.statusCode) });
      // The app died mid-body: cut the client off too, so a browser sees a broken response (and an
      // EventSource reconnects) rather than one that silently stopped. Also keeps the error handled.
      proxyRes.on('error', () => response.destroy());
    });
    // Socket-level errors the library reports outside a request's callback (a client's upgraded
    // socket failing, for one): already cleaned up by the library, and never worth a crash.
    this.proxy.on('error', (error) => this.logger.debug({ code: (error as NodeJS.ErrnoException).code }, 'proxy socket error'));
  }

  /** The Router's fallback: relays one request to the app. */
  web = (request: IncomingMessage, response: ServerResponse): void => {
    const clientClose = connectionTokens(request.headers).has('close');
    stripHopHeaders(request.headers, REQUEST_HOP_HEADERS);
    const pending: Pending = {
      timer: setTimeout(() => this.timeOut(request, response), this.options.responseTimeout),
      proxyReq: undefined,
      timedOut: false,
      clientClose,
      answered: false,
    };
    this.pending.set(request, pending);
    response.once('close', () => clearTimeout(pending.timer));
    this.proxy.web(request, response, {}, (error) => this.failed(error, request, response));
  };

  /** The server's 'upgrade' event for paths that are not the gateway's own: websockets to the app. */
  upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    stripHopHeaders(request.headers, REQUEST_HOP_HEADERS, ['upgrade']);
    request.headers.connection = 'Upgrade';
    const pending: Pending = {
      timer: setTimeout(() => {
        pending.timedOut = true;
        pending.proxyReq?.destroy(timeoutError());
        if (!pending.answered)
          this.answerSocket(socket, new GatewayError('SSEG_UPSTREAM_TIMEOUT', 'the app did not answer the websocket upgrade in time'), 'websocket');
      }, this.options.responseTimeout),
      proxyReq: undefined,
      timedOut: false,
      clientClose: true,
      answered: false,
    };
    this.pending.set(request, pending);
    this.upgraded.add(socket);
    socket.once('close', () => {
      clearTimeout(pending.timer);
      this.upgraded.delete(socket);
    });
    // A websocket holds its connection for hours: it gets its own socket rather than one from the pool.
    this.proxy.ws(request, socket, head, { agent: false }, (error) => {
      clearTimeout(pending.timer);
      if (pending.answered || pending.timedOut) return;
      pending.answered = true;
      this.answerSocket(socket, toGatewayError(error), 'websocket');
    });
  };

  /**
   * Cuts open websockets (server.closeAllConnections() does not see upgraded sockets, so without
   * this server.close() would wait for them forever) and drops pooled keep-alive sockets.
   * Proxied HTTP requests end with the server's own connections.
   */
  close(): void {
    for (const socket of this.upgraded) socket.destroy();
    this.upgraded.clear();
    this.agent.destroy();
  }

  private timeOut(request: IncomingMessage, response: ServerResponse): void {
    const pending = this.pending.get(request);
    if (pending === undefined || response.headersSent) return;
    pending.timedOut = true;
    pending.proxyReq?.destroy(timeoutError());
    this.reply(response, new GatewayError('SSEG_UPSTREAM_TIMEOUT', `the app did not answer within ${this.options.responseTimeout} ms`), request);
  }

  private failed(error: Error, request: IncomingMessage, response: ServerResponse | Duplex): void {
    const pending = this.pending.get(request);
    if (pending !== undefined) clearTimeout(pending.timer);
    if (!('writeHead' in response)) return;
    if (response.writableEnded) return; // already answered (a timeout), or finished before the error
    if (response.headersSent) {
      // Mid-body: no status can be sent any more; a cut connection is the honest signal.
      response.destroy();
      return;
    }
    this.reply(response, pending?.timedOut ? new GatewayError('SSEG_UPSTREAM_TIMEOUT', 'the app did not answer in time') : toGatewayError(error), request);
  }

  private reply(response: ServerResponse, error: GatewayError, request: IncomingMessage): void {
    this.metrics.proxyRequests.inc({ kind: 'http', outcome: error.code });
    this.logger.warn({ code: error.code, method: request.method, path: request.url?.split('?')[0]?.slice(0, 200) }, 'app request failed');
    sendError(response, error);
  }

  private answerSocket(socket: Duplex, error: GatewayError, kind: 'websocket'): void {
    this.metrics.proxyRequests.inc({ kind, outcome: error.code });
    this.logger.warn({ code: error.code }, 'app websocket upgrade failed');
    writeSocketError(socket, error);
  }
}

/** The app's own failure, as the client sees it: never the library's message or the app's address. */
function toGatewayError(error: Error): GatewayError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNECT_TIMEOUT' || code === 'SSEG_UPSTREAM_TIMEOUT' || code === 'ETIMEDOUT') {
    return new GatewayError('SSEG_UPSTREAM_TIMEOUT', 'the app did not accept the connection in time');
  }
  return new GatewayError('SSEG_UPSTREAM_UNAVAILABLE', 'the app is not reachable or broke off the connection');
}

function timeoutError(): Error {
  return Object.assign(new Error('the app did not answer in time'), { code: 'SSEG_UPSTREAM_TIMEOUT' });
}

function connectionTokens(headers: IncomingHttpHeaders): Set<string> {
  const value = headers.connection;
  if (value === undefined) return new Set();
  return new Set(
    value
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
}

/** Removes the fixed hop-by-hop headers and every header the Connection header names, unless it is one no Connection may name. */
function stripHopHeaders(headers: IncomingHttpHeaders, fixed: readonly string[], keep: readonly string[] = []): void {
  for (const token of connectionTokens(headers)) if (!keep.includes(token) && !NEVER_HOP_BY_HOP.has(token)) delete headers[token];
  for (const name of fixed) if (!keep.includes(name)) delete headers[name];
}

function statusClass(status: number | undefined): string {
  return status === undefined ? 'unknown' : `${Math.floor(status / 100)}xx`;
}
