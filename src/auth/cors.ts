import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Reply } from '../http/reply.ts';
import type { RequestHead } from '../http/request-head.ts';
import { GatewayError } from '../errors.ts';

const ALLOWED_HEADERS = 'Authorization, Content-Type, Last-Event-ID, X-SSEG-Timestamp, X-SSEG-Signature';
const PREFLIGHT_MAX_AGE = '600';

/**
 * CORS for credentialed EventSource (`new EventSource(url, { withCredentials: true })`) and
 * fetch: only configured origins, echoed one at a time with `Access-Control-Allow-Credentials`,
 * and always `Vary: Origin` so a shared cache never hands one origin's answer to another. A
 * wildcard is never sent: browsers refuse it with credentials, and the schema refuses it too.
 */
export class Cors {
  private readonly origins: ReadonlySet<string>;

  constructor(origins: readonly string[]) {
    this.origins = new Set(origins);
  }

  get enabled(): boolean {
    return this.origins.size > 0;
  }

  /**
   * On a stream or publish request, before anything is written: sets the CORS headers for an
   * allowed origin (they then ride on the stream's head and on error answers alike). A foreign
   * origin is refused, so it cannot hold streams it could never read.
   */
  apply(request: RequestHead, response: Reply): void {
    if (!this.enabled) return;
    response.setHeader('Vary', 'Origin');
    const origin = request.headers.origin;
    if (origin === undefined || isSameOrigin(request, origin)) return;
    if (!this.origins.has(origin)) throw new GatewayError('SSEG_ORIGIN_NOT_ALLOWED', 'this origin may not use the gateway');
    response.setHeader('Access-Control-Allow-Origin', origin);
    response.setHeader('Access-Control-Allow-Credentials', 'true');
  }

  /** OPTIONS preflight for `methods`; answers 204 for an allowed origin, 403 otherwise. */
  preflight(request: IncomingMessage, response: ServerResponse, methods: string): void {
    const origin = request.headers.origin;
    if (!this.enabled || origin === undefined || !this.origins.has(origin)) {
      throw new GatewayError('SSEG_ORIGIN_NOT_ALLOWED', 'this origin may not use the gateway', { Vary: 'Origin' });
    }
    response.writeHead(204, {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Allow-Methods': methods,
      'Access-Control-Allow-Headers': ALLOWED_HEADERS,
      'Access-Control-Max-Age': PREFLIGHT_MAX_AGE,
      'Vary': 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
      'Content-Length': '0',
    });
    response.end();
  }
}

/** Browsers send Origin on some same-origin requests too (POST); those need no CORS. */
function isSameOrigin(request: RequestHead, origin: string): boolean {
  const host = request.headers.host;
  if (host === undefined) return false;
  return origin === `http://${host}` || origin === `https://${host}`;
}
