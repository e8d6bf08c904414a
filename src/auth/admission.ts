import { GatewayError } from '../errors.ts';
import type { Reply } from '../http/reply.ts';
import type { RequestHead } from '../http/request-head.ts';

/**
 * Per-address admission: at most `max` streams, counting requests still being authorized, from
 * one remote address at once. Counted from the moment a request arrives to the moment its
 * response closes, so a flood of slow attempts is capped as surely as a pile of open streams.
 * The map holds only addresses with something open, so it is bounded by open connections.
 */
export class Admission {
  private readonly max: number;
  private readonly retryAfter: string;
  private readonly held = new Map<string, number>();

  constructor(max: number, retryAfterSeconds: number) {
    this.max = max;
    this.retryAfter = String(retryAfterSeconds);
  }

  /** Throws 429 when the address is at its cap; otherwise holds a place until `response` closes. */
  admit(request: RequestHead, response: Reply): void {
    if (this.max === 0) return;
    const address = request.socket.remoteAddress ?? 'unknown';
    const count = this.held.get(address) ?? 0;
    if (count >= this.max) {
      throw new GatewayError('SSEG_TOO_MANY_FROM_ADDRESS', 'this address holds as many streams as one client may', { 'Retry-After': this.retryAfter });
    }
    this.held.set(address, count + 1);
    response.once('close', () => {
      const left = (this.held.get(address) ?? 1) - 1;
      if (left <= 0) this.held.delete(address);
      else this.held.set(address, left);
    });
  }

  get addresses(): number {
    return this.held.size;
  }
}
