import { createHash } from 'node:crypto';
import { Agent, request as undiciRequest } from 'undici';
import { GatewayError } from '../errors.ts';
import { SILENT_REPORT, type AuthReport, type AuthRequest, type Authenticator, type Principal } from './authenticator.ts';
import { ChannelGrants } from './channels.ts';
import { unauthorized } from './jwt.ts';

export interface ForwardOptions {
  readonly url: string;
  readonly timeout: number;
  readonly cacheTtl: number;
  readonly cacheSize: number;
}

/** Channels the app answers with, comma-separated; or in a JSON body `{"channels": [...]}`. */
export const CHANNELS_HEADER = 'x-sseg-channels';
const MAX_ANSWER_BYTES = 64 * 1024;

type Decision = { allowed: true; principal: Principal } | { allowed: false; error: GatewayError };

/**
 * Forward auth: the app decides. The gateway sends it the client's Cookie and Authorization
 * and the channels asked for (`X-SSEG-Channels`), as a GET to `auth.forward.url`. 2xx grants
 * the channel patterns it names; 401 and 403 go back to the client as they are; any other 4xx
 * or a 3xx is the app refusing this request's credential (a 431 for a huge cookie, a 400, a
 * redirect to its login page): 401. Only a 5xx, a refused connection or a timeout is an outage
 * (503/504), never "allowed". The line matters because a client picks its own credential: were
 * a bad one an outage, any client could make the gateway report the app down at will.
 *
 * Decisions are cached for `cacheTtl` under a SHA-256 of credential and channels, so a
 * reconnect wave costs the app one request per client, and the raw credential is never a key.
 */
export class ForwardAuthenticator implements Authenticator {
  readonly mode = 'forward';
  private readonly options: ForwardOptions;
  private readonly agent: Agent;
  // Map keeps insertion order: the first key is the oldest, evicted when full.
  private readonly cache = new Map<string, { decision: Decision; until: number }>();
  private readonly report: AuthReport;

  constructor(options: ForwardOptions, report: AuthReport = SILENT_REPORT) {
    this.options = options;
    this.report = report;
    this.agent = new Agent({ connectTimeout: options.timeout, headersTimeout: options.timeout, bodyTimeout: options.timeout });
  }

  async authenticate(request: AuthRequest): Promise<Principal | undefined> {
    const cookie = typeof request.headers.cookie === 'string' ? request.headers.cookie : '';
    const authorization = typeof request.headers.authorization === 'string' ? request.headers.authorization : '';
    if (cookie === '' && authorization === '') return undefined;
    // What undici (like node:http) refuses to send; node:http's parser lets some of it in. Asking
    // would fail as if the app were down, so it is the client's bad credential, decided here.
    if (!isHeaderValue(cookie) || !isHeaderValue(authorization)) {
      throw new GatewayError('SSEG_UNAUTHORIZED', 'the Cookie or Authorization header holds bytes no HTTP header may carry', {
        'WWW-Authenticate': 'Bearer error="invalid_request"',
      });
    }

    const key = createHash('sha256').update(cookie).update('\0').update(authorization).update('\0').update(request.channels.join(',')).digest('base64url');
    const now = Date.now();
    const cached = this.cache.get(key);
    let decision: Decision;
    if (cached !== undefined && cached.until > now) {
      this.report.forwardCache('hit');
      decision = cached.decision;
    } else {
      this.report.forwardCache('miss');
      if (cached !== undefined) this.cache.delete(key);
      decision = await this.ask(cookie, authorization, request.channels);
      this.remember(key, decision, now);
    }
    if (!decision.allowed) throw decision.error;
    return decision.principal;
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.agent.close();
  }

  private async ask(cookie: string, authorization: string, channels: readonly string[]): Promise<Decision> {
    const headers: Record<string, string> = { [CHANNELS_HEADER]: channels.join(','), accept: 'application/json' };
    if (cookie !== '') headers['cookie'] = cookie;
    if (authorization !== '') headers['authorization'] = authorization;
    const signal = AbortSignal.timeout(this.options.timeout);
    let answer;
    try {
      answer = await undiciRequest(this.options.url, { method: 'GET', headers, dispatcher: this.agent, signal });
    } catch (error) {
      throw outage(error, signal);
    }
    const { statusCode } = answer;
    if (statusCode === 401) {
      await answer.body.dump();
      return { allowed: false, error: unauthorized('the app did not accept this session') };
    }
    if (statusCode === 403) {
      await answer.body.dump();
      return { allowed: false, error: new GatewayError('SSEG_FORBIDDEN', 'the app does not allow this session these channels') };
    }
    if (statusCode >= 300 && statusCode <= 499) {
      await answer.body.dump();
      // The app did not accept what this client sent (too large, malformed, go log in): the
      // client's problem, cached like a 401. Neither the app's status nor its body is passed on.
      return { allowed: false, error: unauthorized("the app did not accept this request's credential") };
    }
    if (statusCode < 200 || statusCode > 299) {
      await answer.body.dump();
      // Not cached: an app having a bad second should not lock clients out for cacheTtl.
      throw new GatewayError('SSEG_AUTH_UNAVAILABLE', 'the app that decides access failed; retry later', { 'Retry-After': '5' });
    }
    let patterns: string[] = [];
    const header = answer.headers[CHANNELS_HEADER];
    if (typeof header === 'string') {
      await answer.body.dump();
      patterns = header
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
    } else {
      let body: unknown;
      try {
        const text = await readLimited(answer.body, MAX_ANSWER_BYTES);
        body = text === undefined || text === '' ? undefined : JSON.parse(text);
      } catch (error) {
        if (signal.aborted) throw outage(error, signal);
        body = undefined;
      }
      if (isObject(body) && Array.isArray(body['channels'])) patterns = body['channels'].filter((item): item is string => typeof item === 'string');
    }
    return { allowed: true, principal: { subject: undefined, grants: new ChannelGrants(patterns), expiresAt: undefined } };
  }

  private remember(key: string, decision: Decision, now: number): void {
    if (this.cache.size >= this.options.cacheSize) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) {
        this.cache.delete(oldest.value);
        this.report.forwardCache('evicted');
      }
    }
    this.cache.set(key, { decision, until: now + this.options.cacheTtl });
  }
}

/** The body as text, or undefined (and the rest discarded) once it passes `limit` bytes: an answer never costs more. */
async function readLimited(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function outage(error: unknown, signal: AbortSignal): GatewayError {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayError('SSEG_AUTH_TIMEOUT', 'the app that decides access did not answer in time; retry later', { 'Retry-After': '5' });
  }
  return new GatewayError('SSEG_AUTH_UNAVAILABLE', 'the app that decides access cannot be reached; retry later', { 'Retry-After': '5' });
}

/**
 * The bytes rule node:http and undici apply to a header value they send (`checkInvalidHeaderChar`):
 * HTAB, visible ASCII and space, obs-text 0x80-0xFF. A loop rather than a regex: no control
 * characters in a pattern, and no allocation on a path every forward-auth stream open takes.
 */
function isHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code === 0x7f || code > 0xff || (code < 0x20 && code !== 0x09)) return false;
  }
  return true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
