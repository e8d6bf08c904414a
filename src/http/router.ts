import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';
import { sendError } from './reply.ts';

/**
 * A request's target as a URL, or undefined when it cannot be parsed or is not in normal form.
 * The base only makes relative targets parseable.
 *
 * Not normal: a path that WHATWG URL parsing would change (a backslash, which it reads as `/`;
 * a `.` or `..` segment, plain or percent-encoded, which it resolves), or a percent-encoded `/`
 * or `\` outside a channel (where it would read as one path to nginx and another to the app).
 * nginx matches its locations on the raw path, so a target the gateway would route elsewhere
 * after normalising (`/events\..\metrics` is `/metrics` here, an `/events` stream to nginx)
 * would slip past the proxy's rules. Such a target is refused, never routed.
 */
export function parseTarget(target: string | undefined, inChannel: (pathname: string) => boolean = () => false): URL | undefined {
  let url: URL;
  try {
    url = new URL(target ?? '/', 'http://gateway.invalid');
  } catch {
    return undefined;
  }
  const raw = rawPath(target ?? '/');
  // Characters the URL parser only percent-encodes (", <, >, ^, `, {, }) do not change the route.
  if (raw !== undefined && raw.replace(ENCODED_BY_PARSER, percentEncode) !== url.pathname) return undefined;
  // The parser leaves %2F and %5C alone, so `..%2F` is not a dot segment to it; to nginx, which decodes them, it is.
  if (DOT_SEGMENT.test(url.pathname.replace(/%2e/gi, '.').replace(/%(2f|5c)/gi, '/'))) return undefined;
  if (ENCODED_SEPARATOR.test(url.pathname) && !inChannel(url.pathname)) return undefined;
  return url;
}

const ENCODED_SEPARATOR = /%(2f|5c)/i;
const ENCODED_BY_PARSER = /["<>^`{}]/g;
const DOT_SEGMENT = /\/\.{1,2}(\/|$)/;

function percentEncode(character: string): string {
  return `%${character.charCodeAt(0).toString(16).toUpperCase()}`;
}

/** The path of an origin-form (`/p?q`) or absolute-form (`http://h/p?q`) target as sent, or undefined for other forms. */
function rawPath(target: string): string | undefined {
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  const rest = absolute === null ? target : target.slice(absolute[0].length) || '/';
  if (!rest.startsWith('/')) return undefined;
  const end = rest.search(/[?#]/);
  return end === -1 ? rest : rest.slice(0, end);
}

export type Handler = (request: IncomingMessage, response: ServerResponse, url: URL) => void | Promise<void>;

interface Route {
  readonly methods: readonly string[];
  readonly handler: Handler;
}

/**
 * The gateway's few routes: exact paths, plus one prefix (the streams path, whose tail is a
 * channel). Anything else goes to the fallback. A wrong method is a 405 naming the right ones.
 */
export class Router {
  private readonly exact = new Map<string, Route>();
  private readonly prefixes: Array<[string, Route]> = [];
  private readonly fallback: Handler;
  private readonly onError: (error: unknown, request: IncomingMessage) => void;

  constructor(fallback: Handler, onError: (error: unknown, request: IncomingMessage) => void) {
    this.fallback = fallback;
    this.onError = onError;
  }

  add(path: string, methods: readonly string[], handler: Handler, options: { prefix?: boolean } = {}): this {
    const route = { methods, handler };
    this.exact.set(path, route);
    if (options.prefix) this.prefixes.push([`${path}/`, route]);
    return this;
  }

  /** Whether a path is one of the gateway's own (any method): those are never handed to the fallback, nor proxied as websockets. */
  owns(pathname: string): boolean {
    return this.exact.has(pathname) || this.prefixes.some(([prefix]) => pathname.startsWith(prefix));
  }

  /** A request target as this router's routes read it (parseTarget, with encoded slashes allowed in their channel tails). */
  target(raw: string | undefined): URL | undefined {
    return parseTarget(raw, this.inChannel);
  }

  /** Whether a path falls in a prefix route's tail, which is a channel. */
  private readonly inChannel = (pathname: string): boolean => this.prefixes.some(([prefix]) => pathname.startsWith(prefix));

  handle = (request: IncomingMessage, response: ServerResponse): void => {
    const url = this.target(request.url);
    if (url === undefined) {
      sendError(response, badTarget());
      return;
    }
    const route = this.exact.get(url.pathname) ?? this.prefixes.find(([prefix]) => url.pathname.startsWith(prefix))?.[1];
    const handler = route === undefined ? this.fallback : route.methods.includes(request.method ?? '') ? route.handler : undefined;
    if (handler === undefined) {
      const allowed = route?.methods.join(', ') ?? '';
      sendError(response, new GatewayError('SSEG_METHOD_NOT_ALLOWED', `${request.method ?? '?'} is not allowed here; use ${allowed}`, { Allow: allowed }));
      return;
    }
    try {
      const pending = handler(request, response, url);
      if (pending) pending.catch((error: unknown) => this.fail(error, request, response));
    } catch (error) {
      this.fail(error, request, response);
    }
  };

  private fail(error: unknown, request: IncomingMessage, response: ServerResponse): void {
    if (!(error instanceof GatewayError)) this.onError(error, request);
    sendError(response, error);
  }
}

/** The refusal of a target parseTarget did not take. */
export function badTarget(): GatewayError {
  return new GatewayError(
    'SSEG_BAD_QUERY',
    'the request target cannot be parsed or is not in normal form (no backslash, no . or .. segment, no encoded slash outside a channel)',
  );
}

export const notFound: Handler = (_request, response, url) => {
  sendError(response, new GatewayError('SSEG_NOT_FOUND', `nothing is served at ${url.pathname.slice(0, 100)}`));
};
