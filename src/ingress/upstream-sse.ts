import { setTimeout as sleep } from 'node:timers/promises';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { Agent, request } from 'undici';
import { isGatewayError } from '../errors.ts';
import type { EventInput, History } from '../history/history.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { assertEventName } from '../sse/names.ts';
import type { Ingress } from './ingress.ts';

export interface UpstreamSseSource {
  readonly url: string;
  readonly channel: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Silence after which the connection is presumed dead and reopened. */
  readonly idleTimeout: number;
}

export interface UpstreamSseOptions {
  readonly connectTimeout: number;
  /** How long the upstream may take to send its response headers. */
  readonly headersTimeout: number;
  /** First reconnect delay until the upstream names its own with `retry:`. */
  readonly retryMs?: number;
  /** Ceiling of the backoff while the upstream keeps failing. */
  readonly maxRetryMs?: number;
}

const DEFAULT_RETRY_MS = 1_000;
const DEFAULT_MAX_RETRY_MS = 30_000;
/** A `retry:` below this is raised to it: an upstream must not be able to make us reconnect in a tight loop. */
const MIN_RETRY_MS = 50;

/**
 * Collapses app SSE endpoints into channels: for each configured source, ONE connection to the
 * app, whose events are appended to the log (and so reach every client through the hub), however
 * many browsers watch. It behaves like a careful EventSource: it sends Last-Event-ID on
 * reconnect, honours the upstream's `retry:`, and backs off exponentially while the upstream
 * keeps failing. Like every ingress it only turns outside input into `append` calls.
 */
export class UpstreamSseIngress implements Ingress {
  readonly name = 'upstream-sse';
  private readonly connections: UpstreamConnection[];
  private readonly agent: Agent;
  private readonly controller = new AbortController();
  private running: Array<Promise<void>> = [];

  constructor(sources: readonly UpstreamSseSource[], deps: { history: History; metrics: Metrics; logger: Logger }, options: UpstreamSseOptions) {
    this.agent = new Agent({ connect: { timeout: options.connectTimeout } });
    this.connections = sources.map((source, index) => new UpstreamConnection(source, String(index), deps, options, this.agent, this.controller.signal));
  }

  /** Resolves at once: each connection runs, and reconnects, on its own. */
  start(): Promise<void> {
    if (this.running.length === 0 && !this.controller.signal.aborted) this.running = this.connections.map((connection) => connection.run());
    return Promise.resolve();
  }

  /** Aborts every connection and waiting backoff, then closes the connection pool. */
  async close(): Promise<void> {
    this.controller.abort();
    await Promise.all(this.running);
    await this.agent.destroy();
  }
}

class UpstreamConnection {
  private readonly source: UpstreamSseSource;
  private readonly label: { upstream: string };
  private readonly history: History;
  private readonly metrics: Metrics;
  private readonly logger: Logger;
  private readonly options: UpstreamSseOptions;
  private readonly agent: Agent;
  private readonly signal: AbortSignal;
  /** The id of the newest event that is safely in the log: what a reconnect resumes from. */
  private lastEventId: string | undefined;
  private retryMs: number;
  private failures = 0;

  constructor(
    source: UpstreamSseSource,
    index: string,
    deps: { history: History; metrics: Metrics; logger: Logger },
    options: UpstreamSseOptions,
    agent: Agent,
    signal: AbortSignal,
  ) {
    this.source = source;
    this.label = { upstream: index };
    this.history = deps.history;
    this.metrics = deps.metrics;
    // Index, channel and host only: the URL's path or query and the headers may hold credentials.
    this.logger = deps.logger.child({ ingress: 'upstream-sse', upstream: Number(index), channel: source.channel, host: new URL(source.url).host });
    this.options = options;
    this.agent = agent;
    this.signal = signal;
    this.retryMs = options.retryMs ?? DEFAULT_RETRY_MS;
    this.metrics.upstreamSseConnected.set(this.label, 0);
  }

  async run(): Promise<void> {
    while (!this.signal.aborted) {
      let delivered = false;
      try {
        delivered = await this.follow();
        if (!this.signal.aborted) this.logger.info({ lastEventId: this.lastEventId }, 'upstream stream ended; reconnecting');
      } catch (error) {
        if (this.signal.aborted) break;
        this.logger.warn({ err: describe(error), lastEventId: this.lastEventId }, 'upstream stream failed; reconnecting');
      }
      this.metrics.upstreamSseConnected.set(this.label, 0);
      if (this.signal.aborted) break;
      this.metrics.upstreamSseReconnects.inc(this.label);
      // A connection that carried events resets the backoff; one that failed or stayed empty doubles it.
      this.failures = delivered ? 0 : this.failures + 1;
      const delay = Math.min(this.options.maxRetryMs ?? DEFAULT_MAX_RETRY_MS, this.retryMs * 2 ** Math.max(0, this.failures - 1));
      try {
        await sleep(delay, undefined, { signal: this.signal });
      } catch {
        break;
      }
    }
  }

  /** One connection, followed until it ends. Resolves with whether it carried any event. */
  private async follow(): Promise<boolean> {
    const headers: Record<string, string> = { ...this.source.headers, 'accept': 'text/event-stream', 'cache-control': 'no-store' };
    if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
    const response = await request(this.source.url, {
      method: 'GET',
      headers,
      signal: this.signal,
      dispatcher: this.agent,
      headersTimeout: this.options.headersTimeout,
      bodyTimeout: this.source.idleTimeout,
    });
    const type = String(response.headers['content-type'] ?? '');
    if (response.statusCode !== 200 || !type.toLowerCase().startsWith('text/event-stream')) {
      await response.body.dump();
      throw new Error(`upstream answered ${response.statusCode} ${type.slice(0, 60)}`);
    }
    this.metrics.upstreamSseConnected.set(this.label, 1);
    this.logger.info({ lastEventId: this.lastEventId }, 'upstream stream open');

    let pending: EventInput[] = [];
    let newestId: string | undefined = this.lastEventId;
    let delivered = false;
    const parser = createParser({
      // Per the SSE spec the id persists across events and an empty `id:` clears it.
      onId: (id) => (newestId = id === '' ? undefined : id),
      onEvent: (message) => {
        const input = this.toInput(message);
        if (input !== undefined) pending.push(input);
      },
      onRetry: (ms) => (this.retryMs = Math.max(MIN_RETRY_MS, ms)),
    });
    const decoder = new TextDecoder();
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (pending.length > 0) {
        const batch = pending;
        pending = [];
        // Awaited before the next chunk is read: events keep their order, and a slow log slows the
        // upstream down (TCP backpressure) instead of piling events up here.
        await this.history.append(batch);
        this.metrics.eventsPublished.inc({ ingress: 'upstream-sse' }, batch.length);
        delivered = true;
      }
      // Only once its events are in the log: a failed append reconnects from before them, so nothing is lost.
      this.lastEventId = newestId;
    }
    return delivered;
  }

  private toInput(message: EventSourceMessage): EventInput | undefined {
    if (message.event !== undefined) {
      try {
        assertEventName(message.event, 'event');
      } catch (error) {
        if (!isGatewayError(error)) throw error;
        // `gap` is the gateway's own, and names with invisible characters would mislead: refuse them, visibly.
        this.metrics.upstreamSseSkipped.inc(this.label);
        this.logger.warn({ event: message.event.slice(0, 40), reason: error.message }, 'upstream event skipped');
        return undefined;
      }
    }
    return { channel: this.source.channel, event: message.event, data: message.data };
  }
}

function describe(error: unknown): { code?: string; message: string } {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === undefined ? { message: error.message } : { code, message: error.message };
  }
  return { message: String(error) };
}
