/**
 * Every failure a client can see has a stable code and one HTTP status, declared here and
 * nowhere else (docs/errors.md lists them; a test keeps the two in step). Bodies never carry
 * a stack, a path or a library's own message: only the code and a sentence for a human.
 */
export const errorStatus = {
  SSEG_BAD_CHANNEL: 400,
  SSEG_TOO_MANY_CHANNELS: 400,
  SSEG_BAD_EVENT_NAME: 400,
  SSEG_BAD_EVENT: 400,
  SSEG_BAD_JSON: 400,
  SSEG_BAD_ENCODING: 400,
  SSEG_BAD_QUERY: 400,
  SSEG_BAD_TICKET_REQUEST: 400,
  SSEG_UNAUTHORIZED: 401,
  SSEG_SIGNATURE_EXPIRED: 401,
  SSEG_FORBIDDEN: 403,
  SSEG_ORIGIN_NOT_ALLOWED: 403,
  SSEG_NOT_FOUND: 404,
  SSEG_METHOD_NOT_ALLOWED: 405,
  SSEG_PAYLOAD_TOO_LARGE: 413,
  SSEG_TOO_MANY_FROM_ADDRESS: 429,
  SSEG_HEADERS_TOO_LARGE: 431,
  SSEG_AUTH_UNAVAILABLE: 503,
  SSEG_TICKETS_FULL: 503,
  SSEG_AUTH_TIMEOUT: 504,
  SSEG_TOO_MANY_CONNECTIONS: 503,
  SSEG_SHUTTING_DOWN: 503,
  SSEG_UNAVAILABLE: 503,
  SSEG_RATE_LIMITED: 429,
  SSEG_UPSTREAM_UNAVAILABLE: 502,
  SSEG_UPSTREAM_TIMEOUT: 504,
  SSEG_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers the error implies (Retry-After, Allow, WWW-Authenticate). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'GatewayError';
    this.code = code;
    this.status = errorStatus[code];
    this.headers = headers;
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}
