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
/** The bytes node:http (llhttp) takes in a header value: HTAB, visible ASCII and SP, obs-text. Anything else (NUL, CR, LF, other C0, DEL) it refuses. */
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Only SP and HTAB are optional whitespace around a value (RFC 9110 §5.6.3); trim() would also take VT, FF and 0xA0, which Node keeps. */
const OWS_EDGES = /^[\t ]+|[\t ]+$/g;
export const MAX_HEADERS = 100;

/**
 * Parses a complete GET request head (request line and header lines joined by CRLF, without the
 * blank line) the way the front door needs it. The rule is that this parser only ever accepts,
 * never rejects: it returns undefined for anything it does not take exactly as node:http would
 * (other methods, any byte Node refuses in a value, obsolete line folding, bad header names, a
 * body, an upgrade, `Expect`, a missing Host on HTTP/1.1, too many headers), and the connection
 * goes to node:http, which answers it with its standard errors or serves it through the router.
 *
 * A header named twice is handed over too. Node merges repeats field by field (drops some,
 * joins others with ", ", Cookie with "; ", Set-Cookie into an array): a stream head with a
 * repeated header is rare, and giving it to Node is the one way to merge exactly as Node does.
 * A name that is a property of Object.prototype (`constructor`, `__proto__`) is handed over as
 * well, so no lookup or assignment here can touch the prototype.
 */
export function parseGetHead(head: string, socket: Socket): RequestHead | undefined {
  const lines = head.split('\r\n');
  const match = REQUEST_LINE.exec(lines[0] ?? '');
  if (!match || lines.length - 1 > MAX_HEADERS) return undefined;
  const headers: IncomingHttpHeaders = {};
  const seen = new Set<string>();
  for (let i = 1; i < lines.length; i += 1) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name) || seen.has(name) || name in Object.prototype) return undefined;
    seen.add(name);
    const raw = line.slice(colon + 1);
    if (!VALUE.test(raw)) return undefined;
    const value = raw.replace(OWS_EDGES, '');
    if (name === 'transfer-encoding' || name === 'upgrade' || name === 'expect' || (name === 'content-length' && value !== '0')) return undefined;
    headers[name] = value;
  }
  const http11 = match[2] === '1';
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400, which is Node's to send.
  if (http11 && headers.host === undefined) return undefined;
  return { method: 'GET', url: match[1], httpVersion: http11 ? '1.1' : '1.0', headers, socket };
}
