import type { IncomingHttpHeaders } from 'node:http';
import type { ChannelGrants } from './channels.ts';

/** Who a credential says the client is, and what it may subscribe to. */
export interface Principal {
  /** The token's `sub`, the ticket's subject, or what forward-auth named; only for logs and never a credential. */
  readonly subject: string | undefined;
  readonly grants: ChannelGrants;
  /** Epoch milliseconds after which the credential is no longer good: the stream is ended then. */
  readonly expiresAt: number | undefined;
}

/** What a mode sees of a stream request. Never logged as a whole: it holds credentials. */
export interface AuthRequest {
  readonly headers: IncomingHttpHeaders;
  readonly url: URL;
  readonly channels: readonly string[];
}

/**
 * One way to turn a request's credential into a Principal (src/auth/jwt.ts, forward.ts,
 * ticket.ts). `authenticate` answers undefined when the request carries no credential of this
 * mode's kind, so the next mode is tried; it throws a GatewayError (401, 403, 503, 504) when it
 * found one and it is not good, or the authority behind it cannot answer.
 */
export interface Authenticator {
  readonly mode: 'jwt' | 'forward' | 'ticket';
  authenticate(request: AuthRequest): Promise<Principal | undefined>;
  close(): Promise<void>;
}

export type AuthMode = Authenticator['mode'] | 'public' | 'none';
export type AuthOutcome = 'allowed' | 'unauthorized' | 'forbidden' | 'unavailable' | 'timeout';

/** What auth tells the metrics room; bounded words only, never a credential, subject or channel. */
export interface AuthReport {
  decision(mode: AuthMode, outcome: AuthOutcome): void;
  forwardCache(result: 'hit' | 'miss' | 'evicted'): void;
  ticket(result: 'issued' | 'redeemed' | 'refused' | 'full'): void;
}

export const SILENT_REPORT: AuthReport = { decision: () => undefined, forwardCache: () => undefined, ticket: () => undefined };

/** `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(headers: IncomingHttpHeaders): string | undefined {
  const header = headers.authorization;
  if (typeof header !== 'string' || header.length < 8 || header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' ? undefined : token;
}

/** One cookie's value from the Cookie header (RFC 6265 pairs separated by `;`), or undefined. */
export function cookieValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const header = headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals === -1 || pair.slice(0, equals).trim() !== name) continue;
    let value = pair.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value === '' ? undefined : value;
  }
  return undefined;
}
