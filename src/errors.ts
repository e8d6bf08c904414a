/**
 * Every failure a client can see has a stable code, one HTTP status and a sentence for the docs,
 * declared here and nowhere else: docs/errors.md is rendered from this registry
 * (`npm run docs:errors`; a test keeps the two in step). Bodies never carry a stack, a path or a
 * library's own message: only the code and a sentence for a human.
 *
 * `retryAfter` (seconds) marks the refusals a client should retry; every reply of that code
 * carries `Retry-After`, with this value unless the error names a better one (the stream
 * refusals use the configured reconnect delay).
 */
export const errorRegistry = {
  SSEG_BAD_CHANNEL: { status: 400, meaning: 'A channel name is missing or not 1-200 characters of `A-Za-z0-9 _ . : @ / -`.' },
  SSEG_TOO_MANY_CHANNELS: { status: 400, meaning: 'A stream asked for more channels than `streams.maxChannelsPerStream`.' },
  SSEG_BAD_EVENT_NAME: { status: 400, meaning: 'An event name is empty, too long, reserved (`gap`), or holds a control, invisible or ill-formed character.' },
  SSEG_BAD_EVENT: {
    status: 400,
    meaning:
      'A publish body is not an event `{"channel", "event"?, "data"}` or a batch `{"events": [...]}`: a field is missing, unknown or of the wrong type, or the batch is empty or too long.',
  },
  SSEG_BAD_JSON: { status: 400, meaning: 'A publish body is not valid JSON.' },
  SSEG_BAD_ENCODING: { status: 400, meaning: 'A body is not valid UTF-8, or a string holds a lone surrogate.' },
  SSEG_BAD_QUERY: {
    status: 400,
    meaning:
      'The request target cannot be parsed, or is not in normal form: a backslash, a `.` or `..` segment (also percent-encoded), or an encoded `/` or `\\` outside a channel. Such a target could be routed differently by a proxy in front, so it is refused on every path.',
  },
  SSEG_BAD_TICKET_REQUEST: {
    status: 400,
    meaning: 'A `POST /tickets` body is not `{"subject", "channels", "ttl"?}` with a printable subject, valid channel patterns and a positive ttl.',
  },
  SSEG_UNAUTHORIZED: {
    status: 401,
    meaning:
      'Publishing without a valid `Authorization: Bearer` token or HMAC signature; or, with `auth.*` configured, subscribing to a non-public channel without a credential, with one that is not valid (bad signature, expired, wrong audience or issuer), or with a ticket that is unknown, used or expired. See [auth.md](auth.md).',
  },
  SSEG_SIGNATURE_EXPIRED: {
    status: 401,
    meaning: "An HMAC-signed publish whose `X-SSEG-Timestamp` is further from the gateway's clock than `publish.hmacTolerance`.",
  },
  SSEG_SIGNATURE_REUSED: {
    status: 401,
    meaning:
      'An HMAC-signed publish (or ticket request) whose signature was already used within `publish.hmacTolerance`: a replayed request. Sign every request anew; a request refused with 503 may be sent again as it was.',
  },
  SSEG_FORBIDDEN: { status: 403, meaning: 'The credential is good but does not grant a requested channel (or the forward-auth app said 403).' },
  SSEG_ORIGIN_NOT_ALLOWED: { status: 403, meaning: 'A cross-origin request (or CORS preflight) from an origin not in `auth.cors.origins`.' },
  SSEG_NOT_FOUND: { status: 404, meaning: 'Nothing is served at this path.' },
  SSEG_METHOD_NOT_ALLOWED: { status: 405, meaning: 'Wrong method for this path; `Allow` names the right ones.' },
  SSEG_PAYLOAD_TOO_LARGE: { status: 413, meaning: 'A publish body exceeds `publish.maxBodyBytes`.' },
  SSEG_TOO_MANY_FROM_ADDRESS: {
    status: 429,
    retryAfter: 3,
    meaning: 'One client address already holds `streams.maxConnectionsPerIp` streams or stream requests; retry after `Retry-After` seconds.',
  },
  SSEG_HEADERS_TOO_LARGE: { status: 431, meaning: "The request's headers (cookies, `Last-Event-ID`, ...) exceed Node's `maxHeaderSize`." },
  SSEG_AUTH_UNAVAILABLE: {
    status: 503,
    retryAfter: 5,
    meaning:
      'The authority that decides access cannot answer: the forward-auth app is down or failed, or the JWKS cannot be fetched. Never treated as "allowed".',
  },
  SSEG_TICKETS_FULL: { status: 503, retryAfter: 1, meaning: '`auth.ticket.maxOutstanding` unredeemed tickets exist; retry shortly.' },
  SSEG_SIGNATURES_FULL: {
    status: 503,
    retryAfter: 1,
    meaning:
      'The gateway holds as many used HMAC signatures as it guards against replay (memory log only) and refuses new signed requests rather than forget one still replayable; retry shortly.',
  },
  SSEG_AUTH_TIMEOUT: { status: 504, retryAfter: 5, meaning: 'The forward-auth app (or the JWKS server) did not answer within `auth.forward.timeout`.' },
  SSEG_TOO_MANY_CONNECTIONS: { status: 503, retryAfter: 3, meaning: '`streams.maxConnections` streams are open; retry after `Retry-After` seconds.' },
  SSEG_SHUTTING_DOWN: { status: 503, retryAfter: 1, meaning: 'The gateway is draining; reconnect or publish elsewhere.' },
  SSEG_UNAVAILABLE: {
    status: 503,
    retryAfter: 1,
    meaning: 'The shared log (Redis) cannot be reached, so the event was not stored; retry after `Retry-After` seconds.',
  },
  SSEG_RATE_LIMITED: { status: 429, retryAfter: 1, meaning: "The demo page's publish path is over `demo.publishRate`; retry after `Retry-After` seconds." },
  SSEG_UPSTREAM_UNAVAILABLE: { status: 502, meaning: 'The app at `upstream.url` refused the connection, reset it, or broke off before its response headers.' },
  SSEG_UPSTREAM_TIMEOUT: {
    status: 504,
    meaning: 'The app at `upstream.url` did not accept the connection within `upstream.connectTimeout`, or did not answer within `upstream.responseTimeout`.',
  },
  SSEG_INTERNAL: { status: 500, meaning: "An unexpected failure; details are in the gateway's log, never in the response." },
} as const satisfies Record<string, ErrorEntry>;

export interface ErrorEntry {
  readonly status: number;
  readonly retryAfter?: number;
  readonly meaning: string;
}

export type ErrorCode = keyof typeof errorRegistry;

/** Each code's HTTP status. */
export const errorStatus = Object.fromEntries(Object.entries(errorRegistry).map(([code, entry]) => [code, entry.status])) as Record<ErrorCode, number>;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Response headers the error implies (Retry-After, Allow, WWW-Authenticate, Connection). */
  readonly headers: Readonly<Record<string, string>>;

  /** `headers` may carry a `Retry-After` of its own; otherwise a code that has a registry wait gets that one. */
  constructor(code: ErrorCode, message: string, headers: Readonly<Record<string, string>> = {}) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    const entry: ErrorEntry = errorRegistry[code];
    this.status = entry.status;
    this.headers = entry.retryAfter === undefined || 'Retry-After' in headers ? headers : { ...headers, 'Retry-After': String(entry.retryAfter) };
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}

/** docs/errors.md, rendered from the registry. */
export function renderErrorDocs(): string {
  const rows = Object.entries(errorRegistry).map(([code, entry]: [string, ErrorEntry]) =>
    ['', '`' + code + '`', entry.status, entry.retryAfter === undefined ? '' : `${entry.retryAfter} s`, entry.meaning, ''].join(' | ').trim(),
  );
  return [
    '# Error codes',
    '',
    'Every error a client can see is JSON `{"error": "<CODE>", "message": "<text for a human>"}` with',
    'the HTTP status below. Codes are stable: match on them, not on messages. Bodies never carry a',
    "stack, a file path or a library's own message. A code with a retry wait always comes with a",
    '`Retry-After` header: the default below, or the wait the gateway knows better (stream refusals',
    'send the `streams.retry` delay). This page is generated from `src/errors.ts`',
    '(`npm run docs:errors`).',
    '',
    '| code | status | Retry-After | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
