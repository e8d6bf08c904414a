import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/schema.ts';
import { GatewayError } from '../errors.ts';
import { SILENT_REPORT, type AuthMode, type AuthOutcome, type AuthReport, type Authenticator, type Principal } from './authenticator.ts';
import { ChannelGrants } from './channels.ts';
import { ForwardAuthenticator } from './forward.ts';
import { JwtAuthenticator, unauthorized } from './jwt.ts';
import { MemoryTicketStore, TicketAuthenticator, type TicketStore } from './ticket.ts';

export interface AccessDecision {
  /** The channels the stream opens with: all that were asked for, or (dropUnauthorized) those granted. */
  readonly channels: readonly string[];
  /** When the stream must end (epoch ms), or undefined. */
  readonly expiresAt: number | undefined;
  readonly subject: string | undefined;
}

/**
 * Who may listen to what. Built once from `auth.*`; asked once per stream open (never per
 * event). Public channels need nothing; otherwise the modes are tried in order (ticket, jwt,
 * forward): the first that finds a credential of its kind decides, and a channel that is
 * neither public nor granted is a 403 (or, with dropUnauthorized, left out).
 */
export class Access {
  readonly enforced: boolean;
  readonly tickets: TicketAuthenticator | undefined;
  private readonly modes: readonly Authenticator[];
  private readonly publicGrants: ChannelGrants;
  private readonly dropUnauthorized: boolean;
  private readonly report: AuthReport;

  constructor(auth: Config['auth'], options: { report?: AuthReport; ticketStore?: TicketStore } = {}) {
    const report = options.report ?? SILENT_REPORT;
    this.report = report;
    const modes: Authenticator[] = [];
    if (auth.ticket.enabled) {
      this.tickets = new TicketAuthenticator(options.ticketStore ?? new MemoryTicketStore(auth.ticket.maxOutstanding), auth.ticket.ttl, { report });
      modes.push(this.tickets);
    }
    const { jwt } = auth;
    if (jwt.secret !== '' || jwt.publicKey !== '' || jwt.jwksUrl !== '') {
      modes.push(new JwtAuthenticator({ ...jwt, fetchTimeout: auth.forward.timeout }));
    }
    if (auth.forward.url !== '') modes.push(new ForwardAuthenticator(auth.forward, report));
    this.modes = modes;
    this.enforced = modes.length > 0;
    this.publicGrants = new ChannelGrants(auth.public);
    this.dropUnauthorized = auth.dropUnauthorized;
  }

  async decide(headers: IncomingHttpHeaders, url: URL, channels: readonly string[]): Promise<AccessDecision> {
    if (!this.enforced || channels.every((channel) => this.publicGrants.allows(channel))) {
      if (this.enforced) this.report.decision('public', 'allowed');
      return { channels, expiresAt: undefined, subject: undefined };
    }
    let mode: AuthMode = 'none';
    try {
      let principal: Principal | undefined;
      for (const candidate of this.modes) {
        mode = candidate.mode;
        principal = await candidate.authenticate({ headers, url, channels });
        if (principal !== undefined) break;
      }
      if (principal === undefined) {
        mode = 'none';
        throw unauthorized('these channels need a credential: a session cookie, a Bearer token or a ticket');
      }
      const granted = principal.grants;
      const allowed = channels.filter((channel) => this.publicGrants.allows(channel) || granted.allows(channel));
      if (allowed.length < channels.length && (!this.dropUnauthorized || allowed.length === 0)) {
        const refused = channels.find((channel) => !allowed.includes(channel)) ?? '';
        throw new GatewayError('SSEG_FORBIDDEN', `the credential does not grant the channel ${refused}`);
      }
      if (principal.expiresAt !== undefined && principal.expiresAt <= Date.now()) throw unauthorized('the credential has expired', 'invalid_token');
      this.report.decision(mode, 'allowed');
      return { channels: allowed, expiresAt: principal.expiresAt, subject: principal.subject };
    } catch (error) {
      if (error instanceof GatewayError) this.report.decision(mode, OUTCOMES[error.code] ?? (error.status < 500 ? 'unauthorized' : 'unavailable'));
      throw error;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.modes.map((mode) => mode.close()));
  }
}

/** Codes with an outcome of their own; any other refusal is the client's (4xx) or an outage (5xx). */
const OUTCOMES: Partial<Record<GatewayError['code'], AuthOutcome>> = {
  SSEG_UNAUTHORIZED: 'unauthorized',
  SSEG_FORBIDDEN: 'forbidden',
  SSEG_AUTH_UNAVAILABLE: 'unavailable',
  SSEG_AUTH_TIMEOUT: 'timeout',
};
