import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { GatewayError } from '../errors.ts';

export const TIMESTAMP_HEADER = 'x-sseg-timestamp';
export const SIGNATURE_HEADER = 'x-sseg-signature';
const SIGNATURE_SHAPE = /^sha256=([0-9a-f]{64})$/;
const TIMESTAMP_SHAPE = /^\d{1,12}$/;

/**
 * HMAC-signed publishing, the webhook way (as GitHub and Stripe sign theirs): the app sends
 * `X-SSEG-Timestamp: <unix seconds>` and `X-SSEG-Signature: sha256=<hex>` where the hex is
 * HMAC-SHA256(secret, "<timestamp>.<raw body>"). The timestamp is inside the MAC, so a captured
 * request cannot be replayed once it is older than `tolerance`; comparison is constant-time.
 */
export class HmacVerifier {
  private readonly secrets: readonly string[];
  private readonly toleranceMs: number;
  private readonly now: () => number;

  constructor(secrets: readonly string[], toleranceMs: number, now: () => number = Date.now) {
    this.secrets = secrets;
    this.toleranceMs = toleranceMs;
    this.now = now;
  }

  get enabled(): boolean {
    return this.secrets.length > 0;
  }

  /** True when the request claims to be signed (and signing is on): then the body must be read before deciding. */
  applies(headers: IncomingHttpHeaders): boolean {
    return this.enabled && headers[SIGNATURE_HEADER] !== undefined;
  }

  /** Checks the timestamp before the body is read, so stale requests cost nothing. */
  checkTimestamp(headers: IncomingHttpHeaders): string {
    const timestamp = headers[TIMESTAMP_HEADER];
    if (typeof timestamp !== 'string' || !TIMESTAMP_SHAPE.test(timestamp)) {
      throw new GatewayError('SSEG_UNAUTHORIZED', `a signed publish needs ${TIMESTAMP_HEADER}: <unix seconds>`);
    }
    if (Math.abs(this.now() - Number(timestamp) * 1000) > this.toleranceMs) {
      throw new GatewayError('SSEG_SIGNATURE_EXPIRED', 'the signature timestamp is too far from the gateway clock; sign again with the current time');
    }
    return timestamp;
  }

  /** Returns the signature (hex) and its timestamp (ms) once both are good. */
  verify(headers: IncomingHttpHeaders, body: Buffer): { signature: string; timestampMs: number } {
    const timestamp = this.checkTimestamp(headers);
    const header = headers[SIGNATURE_HEADER];
    const presented = typeof header === 'string' ? SIGNATURE_SHAPE.exec(header)?.[1] : undefined;
    if (presented === undefined) throw new GatewayError('SSEG_UNAUTHORIZED', `${SIGNATURE_HEADER} must be sha256=<64 hex digits>`);
    const given = Buffer.from(presented, 'hex');
    let matched = false;
    // Every secret is tried, whatever matched, so timing says nothing about which one did.
    for (const secret of this.secrets) matched = timingSafeEqual(sign(secret, timestamp, body), given) || matched;
    if (!matched) throw new GatewayError('SSEG_UNAUTHORIZED', 'the signature does not match the body');
    return { signature: presented, timestampMs: Number(timestamp) * 1000 };
  }
}

export function sign(secret: string, timestamp: string, body: Buffer | string): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}
