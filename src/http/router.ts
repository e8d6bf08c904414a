import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from '../errors.ts';
import { sendError } from './reply.ts';

/** A request's target as a URL, or undefined when it cannot be parsed. The base only makes relative targets parseable. */
export function parseTarget(target: string | undefined): URL | undefined {
  try {
    return new URL(target ?? '/', 'http://gateway.invalid');
  } catch {
    return undefined;
  }
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

  handle = (request: IncomingMessage, response: ServerResponse): void => {
    const url = parseTarget(request.url);
    if (url === undefined) {
      sendError(response, new GatewayError('SSEG_BAD_QUERY', 'the request URL cannot be parsed'));
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

export const notFound: Handler = (_request, response, url) => {
  sendError(response, new GatewayError('SSEG_NOT_FOUND', `nothing is served at ${url.pathname.slice(0, 100)}`));
};
