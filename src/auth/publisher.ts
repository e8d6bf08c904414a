import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';
import { readBody } from '../http/body.ts';
import { bearerToken } from './authenticator.ts';
import { HmacVerifier } from './hmac.ts';

export interface PublisherOptions {
  readonly tokens: readonly string[];
  readonly hmacSecrets: readonly string[];
  readonly hmacTolerance: number;
}

/**
 * Remembers the signatures already used, for as long as their timestamps are accepted, so a
 * captured signed request cannot publish twice (src/auth/signature-replay.ts).
 */
export interface SignatureMemory {
  /** False when this signature was used before (on any instance sharing the memory). */
  remember(signature: string, timestampMs: number): Promise<boolean>;
  /** Lets a signature be used again: its publish was refused as not stored, so the app's retry must pass. */
  forget(signature: string): Promise<void>;
  close(): Promise<void>;
}

/** What a publisher presented, once it was accepted. */
export interface AuthorizedBody {
  readonly body: Buffer;
  /** The signature of a signed request; undefined for a bearer token. */
  readonly signature: string | undefined;
}

/**
 * Who may publish (and issue tickets): a bearer token from `publish.tokens`, or an HMAC
 * signature over the body (src/auth/hmac.ts). The bearer header is read by the same parser the
 * stream side uses, so `bearer` in any case works on both.
 */
export class PublisherAuth {
  private readonly tokenDigests: readonly Buffer[];
  private readonly hmac: HmacVerifier;
  private readonly signatures: SignatureMemory | undefined;

  constructor(options: PublisherOptions, signatures?: SignatureMemory) {
    // Compared as digests: equal length for timingSafeEqual, and no length leak.
    this.tokenDigests = options.tokens.map(digest);
    this.hmac = new HmacVerifier(options.hmacSecrets, options.hmacTolerance);
    this.signatures = signatures;
  }

  /** Resolves with the body once the request may go on; throws 401 (or 413 for a body over `maxBytes`). */
  async readAuthorized(request: IncomingMessage, maxBytes: number): Promise<AuthorizedBody> {
    if (!this.hmac.applies(request.headers)) {
      this.checkToken(request);
      return { body: await readBody(request, maxBytes), signature: undefined };
    }
    // The timestamp is checked before the body is read, so a stale replay costs no body read.
    this.hmac.checkTimestamp(request.headers);
    const body = await readBody(request, maxBytes);
    const { signature, timestampMs } = this.hmac.verify(request.headers, body);
    if (this.signatures !== undefined && !(await this.signatures.remember(signature, timestampMs))) {
      throw new GatewayError('SSEG_SIGNATURE_REUSED', 'this signature was already used; sign every request anew');
    }
    return { body, signature };
  }

  /** After a refusal that stored nothing: the same signed request may be sent again. */
  async release(authorized: AuthorizedBody): Promise<void> {
    if (authorized.signature !== undefined) await this.signatures?.forget(authorized.signature);
  }

  async close(): Promise<void> {
    await this.signatures?.close();
  }

  private checkToken(request: IncomingMessage): void {
    const token = bearerToken(request.headers);
    if (token === undefined) {
      throw new GatewayError('SSEG_UNAUTHORIZED', 'publishing needs Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' });
    }
    const presented = digest(token);
    let matched = false;
    // Every token is compared, whatever matched, so timing says nothing about which one did.
    for (const known of this.tokenDigests) matched = timingSafeEqual(known, presented) || matched;
    if (!matched) throw new GatewayError('SSEG_UNAUTHORIZED', 'the publish token is not valid', { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
