import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';

/** What the gateway reads of a request: IncomingMessage has all of it, and so does a head parsed by the front door. */
export interface RequestHead {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly httpVersion: string;
  readonly headers: IncomingHttpHeaders;
  readonly socket: Socket;
}

const REQUEST_LINE = /^GET (\/[!-~]*) HTTP\/1\.([01])$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers where a second copy is dropped, as Node's own parser does: two Authorization headers must not become one "a, b". */
const FIRST_WINS = new Set(['authorization', 'proxy-authorization', 'host', 'last-event-id', 'origin', 'user-agent', 'referer', 'content-type', 'content-length']);
export const MAX_HEADERS = 100;

/**
 * Parses a complete GET request head (request line and headers, without the blank line) the way
 * the front door needs it. Returns undefined for anything unusual (other methods, obsolete line
 * folding, bad header names, a body, an upgrade, too many headers) so that Node's own parser can
 * answer it with its standard errors: this parser only ever accepts, never rejects.
 */
export function parseGetHead(head: string, socket: Socket): RequestHead | undefined {
  const lines = head.split('\r\n');
  const match = REQUEST_LINE.exec(lines[0] ?? '');
  if (!match || lines.length - 1 > MAX_HEADERS) return undefined;
  const headers: IncomingHttpHeaders = {};
  for (let i = 1; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) return undefined;
    const value = line.slice(colon + 1).trim();
    if (name === 'transfer-encoding' || name === 'upgrade' || (name === 'content-length' && value !== '0')) return undefined;
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (name === 'cookie') headers[name] = `${String(previous)}; ${value}`;
    else if (!FIRST_WINS.has(name)) headers[name] = `${String(previous)}, ${value}`;
  }
  return { method: 'GET', url: match[1], httpVersion: `1.${match[2] ?? '1'}`, headers, socket };
}
