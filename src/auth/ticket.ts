import { createHash, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { assertChannel } from '../sse/names.ts';
import { SILENT_REPORT, type AuthReport, type AuthRequest, type Authenticator, type Principal } from './authenticator.ts';
import { ChannelGrants, isValidPattern } from './channels.ts';
import { unauthorized } from './jwt.ts';

/** What a ticket stands for, once redeemed. */
export interface TicketGrant {
  readonly subject: string;
  readonly channels: readonly string[];
  readonly expiresAt: number;
}

/**
 * Where outstanding tickets wait. Keys are SHA-256 digests of tickets, never tickets. `take`
 * must be atomic (the first caller gets the grant, every later one undefined): in memory that
 * is one Map.delete; across instances it is one Redis GETDEL (or a Lua get-and-delete), which
 * is all a shared store has to provide.
 */
export interface TicketStore {
  /** False when the store is full. */
  put(digest: string, grant: TicketGrant): Promise<boolean>;
  take(digest: string): Promise<TicketGrant | undefined>;
  close(): Promise<void>;
}

/** One process's tickets, bounded: expired ones are swept on the way in, and a full store refuses. */
export class MemoryTicketStore implements TicketStore {
  private readonly tickets = new Map<string, TicketGrant>();
  private readonly max: number;
  private readonly now: () => number;

  constructor(max: number, now: () => number = Date.now) {
    this.max = max;
    this.now = now;
  }

  get size(): number {
    return this.tickets.size;
  }

  put(digest: string, grant: TicketGrant): Promise<boolean> {
    if (this.tickets.size >= this.max) this.sweep();
    if (this.tickets.size >= this.max) return Promise.resolve(false);
    this.tickets.set(digest, grant);
    return Promise.resolve(true);
  }

  take(digest: string): Promise<TicketGrant | undefined> {
    const grant = this.tickets.get(digest);
    // Deleted before the expiry check: an expired ticket is gone as surely as a used one.
    this.tickets.delete(digest);
    return Promise.resolve(grant !== undefined && grant.expiresAt > this.now() ? grant : undefined);
  }

  close(): Promise<void> {
    this.tickets.clear();
    return Promise.resolve();
  }

  private sweep(): void {
    const now = this.now();
    for (const [digest, grant] of this.tickets) if (grant.expiresAt <= now) this.tickets.delete(digest);
  }
}

export const TICKET_PARAM = 'ticket';
/** 32 random bytes in base64url: 43 characters. */
const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const MAX_SUBJECT_LENGTH = 200;

/**
 * Tickets: the app's server (holding a publish credential) asks for one bound to a subject and
 * channels; the browser opens `EventSource('/events/x?ticket=…')`; the first stream request
 * redeems it and every later one is refused. The ticket only opens the stream: it is not a
 * session, so a stream opened with one is not ended when it expires (seconds later).
 */
export class TicketAuthenticator implements Authenticator {
  readonly mode = 'ticket';
  private readonly store: TicketStore;
  private readonly maxTtl: number;
  private readonly now: () => number;
  private readonly report: AuthReport;

  constructor(store: TicketStore, maxTtl: number, options: { now?: () => number; report?: AuthReport } = {}) {
    this.store = store;
    this.maxTtl = maxTtl;
    this.now = options.now ?? Date.now;
    this.report = options.report ?? SILENT_REPORT;
  }

  /** Validates an issue request body and stores a new ticket; the answer goes to the app as JSON. */
  async issue(body: unknown): Promise<{ ticket: string; expiresAt: string }> {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badTicketRequest('body must be {"subject", "channels", "ttl"?}');
    const { subject, channels, ttl, ...rest } = body as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) throw badTicketRequest(`unknown field ${JSON.stringify(extra.slice(0, 40))}`);
    if (
      typeof subject !== 'string' ||
      subject.length === 0 ||
      subject.length > MAX_SUBJECT_LENGTH ||
      !subject.isWellFormed() ||
      /[\p{Cc}\p{Cf}]/u.test(subject)
    ) {
      throw badTicketRequest(`"subject" must be 1-${MAX_SUBJECT_LENGTH} printable characters`);
    }
    if (!Array.isArray(channels) || channels.length === 0 || channels.length > 1_000)
      throw badTicketRequest('"channels" must be a non-empty array of channel patterns');
    for (const [index, channel] of channels.entries()) {
      if (typeof channel !== 'string' || !isValidPattern(channel)) assertChannel(channel, `channels[${index}]`);
    }
    let lifetime = this.maxTtl;
    if (ttl !== undefined) {
      if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) throw badTicketRequest('"ttl" must be a positive number of seconds');
      lifetime = Math.min(lifetime, ttl * 1000);
    }
    const ticket = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + lifetime;
    const stored = await this.store.put(digest(ticket), { subject, channels: channels as string[], expiresAt });
    this.report.ticket(stored ? 'issued' : 'full');
    if (!stored) throw new GatewayError('SSEG_TICKETS_FULL', 'too many tickets are waiting to be used; retry shortly', { 'Retry-After': '1' });
    return { ticket, expiresAt: new Date(expiresAt).toISOString() };
  }

  async authenticate(request: AuthRequest): Promise<Principal | undefined> {
    const ticket = request.url.searchParams.get(TICKET_PARAM);
    if (ticket === null) return undefined;
    // Only well-formed tickets are hashed and looked up; the rest cannot be ours.
    const grant = TICKET_SHAPE.test(ticket) ? await this.store.take(digest(ticket)) : undefined;
    this.report.ticket(grant === undefined ? 'refused' : 'redeemed');
    if (grant === undefined) throw unauthorized('the ticket is unknown, already used or expired; ask the app for a new one');
    return { subject: grant.subject, grants: new ChannelGrants(grant.channels), expiresAt: undefined };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

function digest(ticket: string): string {
  return createHash('sha256').update(ticket).digest('base64url');
}

function badTicketRequest(message: string): GatewayError {
  return new GatewayError('SSEG_BAD_TICKET_REQUEST', message);
}
