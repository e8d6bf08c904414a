import type { AccessDecision } from '../auth/access.ts';
import type { Admission } from '../auth/admission.ts';
import type { Cors } from '../auth/cors.ts';
import type { ExpiryClock } from '../auth/expiry.ts';
import { redactTarget } from '../auth/redact.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import { sendError, type Reply } from '../http/reply.ts';
import type { RequestHead } from '../http/request-head.ts';
import { badTarget, parseTarget } from '../http/router.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { parseSubscription, type Subscription } from './request.ts';
import type { CloseReason } from './stream.ts';

/** What the opener needs of the streams of this process (src/stream/streams.ts). */
export interface StreamStarter {
  readonly size: number;
  start(request: RequestHead, response: Reply, subscription: Subscription): Promise<{ abort(reason: CloseReason): void }>;
}

/** What the opener needs of access control (src/auth/access.ts). */
export interface AccessDecider {
  readonly enforced: boolean;
  decide(headers: RequestHead['headers'], url: URL, channels: readonly string[]): Promise<AccessDecision>;
}

export interface StreamOpenerOptions {
  readonly streamsPath: string;
  readonly maxChannelsPerStream: number;
  readonly maxConnections: number;
  /** Refusals tell clients to come back after the reconnect delay, in whole seconds. */
  readonly retryAfterSeconds: number;
  /** Query parameters that carry credentials, redacted from logged targets. */
  readonly secretParams: readonly string[];
}

export interface StreamOpenerDeps {
  readonly streams: StreamStarter;
  readonly access: AccessDecider;
  readonly cors: Cors;
  readonly admission: Admission;
  readonly expiry: ExpiryClock;
  readonly metrics: Pick<Metrics, 'connectionsRejected'>;
  readonly logger: Logger;
  /** True once the gateway drains: new streams go to another instance. */
  readonly draining: () => boolean;
}

/**
 * Opens one stream, in this order: refused while draining; CORS; the per-address cap; the
 * subscription (channels, resume position); the global cap, which counts the streams still
 * being authorized; access; then the stream starts, and ends when its credential expires.
 * Every refusal is counted by code and thrown as a GatewayError for the caller to answer.
 */
export class StreamOpener {
  private readonly options: StreamOpenerOptions;
  private readonly deps: StreamOpenerDeps;
  /**
   * Requests past the global cap and waiting for an access decision. They count against the cap:
   * otherwise every request waiting on forward auth or a JWKS fetch would pass the check at once
   * and open beyond the limit together.
   */
  private authorizing = 0;

  constructor(options: StreamOpenerOptions, deps: StreamOpenerDeps) {
    this.options = options;
    this.deps = deps;
    const channelPrefix = `${options.streamsPath}/`;
    this.inChannel = (pathname) => pathname.startsWith(channelPrefix);
  }

  /** Whether a path's tail is a channel (under the streams path): an encoded slash is allowed there. */
  private readonly inChannel: (pathname: string) => boolean;

  /** Streams waiting for their access decision. */
  get pending(): number {
    return this.authorizing;
  }

  /** For the front door, which has no router: parses the target and answers any refusal itself. */
  serve = (head: RequestHead, reply: Reply): void => {
    // The same rule as the router's: a target that normalises to another path is refused, never routed.
    const url = parseTarget(head.url, this.inChannel);
    if (url === undefined) {
      sendError(reply, badTarget());
      return;
    }
    this.open(head, reply, url).catch((error: unknown) => {
      if (!isGatewayError(error)) this.deps.logger.error({ err: error, path: url.pathname }, 'stream failed');
      sendError(reply, error);
    });
  };

  async open(request: RequestHead, response: Reply, url: URL): Promise<void> {
    let admitted: { subscription: Subscription; expiresAt: number | undefined };
    try {
      admitted = await this.admit(request, response, url);
    } catch (error) {
      throw this.refused(error, url);
    }
    if (response.destroyed) return;
    const { subscription, expiresAt } = admitted;
    if (expiresAt === undefined) {
      await this.deps.streams.start(request, response, subscription);
      return;
    }
    // Ended when its credential expires; the client comes back with a fresh one and resumes by Last-Event-ID.
    const { expiry } = this.deps;
    const expiring: { stream?: { abort(reason: CloseReason): void }; expire(): void } = {
      expire: () => (expiring.stream === undefined ? response.destroy() : expiring.stream.abort('expired')),
    };
    expiry.add(expiring, expiresAt);
    response.once('close', () => expiry.remove(expiring));
    expiring.stream = await this.deps.streams.start(request, response, subscription);
  }

  private async admit(request: RequestHead, response: Reply, url: URL): Promise<{ subscription: Subscription; expiresAt: number | undefined }> {
    const { access, admission, cors, streams } = this.deps;
    this.refuseWhileDraining();
    cors.apply(request, response);
    admission.admit(request, response);
    const subscription = parseSubscription(url, request.headers, this.options.streamsPath, this.options.maxChannelsPerStream);
    if (streams.size + this.authorizing >= this.options.maxConnections) {
      throw new GatewayError('SSEG_TOO_MANY_CONNECTIONS', 'this gateway holds as many streams as it is configured to', {
        'Retry-After': String(this.options.retryAfterSeconds),
      });
    }
    if (!access.enforced) return { subscription, expiresAt: undefined };
    this.authorizing += 1;
    let decision: AccessDecision;
    try {
      decision = await access.decide(request.headers, url, subscription.channels);
    } finally {
      // streams.start() counts the stream synchronously after this returns, so the slot passes on without a window.
      this.authorizing -= 1;
    }
    // The decision may have come after the drain began, which would not end a stream opened now.
    this.refuseWhileDraining();
    return { subscription: { ...subscription, channels: decision.channels }, expiresAt: decision.expiresAt };
  }

  private refuseWhileDraining(): void {
    if (this.deps.draining()) {
      throw new GatewayError('SSEG_SHUTTING_DOWN', 'this gateway is shutting down; reconnect', { 'Retry-After': String(this.options.retryAfterSeconds) });
    }
  }

  private refused(error: unknown, url: URL): unknown {
    if (isGatewayError(error)) {
      this.deps.metrics.connectionsRejected.inc({ code: error.code });
      // The target, never the headers; credential-bearing query parameters are redacted.
      this.deps.logger.debug({ code: error.code, target: redactTarget(url, this.options.secretParams) }, 'stream refused');
    }
    return error;
  }
}
