import type { Socket } from 'node:net';
import type { History } from '../history/history.ts';
import type { Reply } from '../http/reply.ts';
import type { RequestHead } from '../http/request-head.ts';
import type { Hub } from '../hub/hub.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { encodePreamble, STREAM_HEADERS } from '../sse/encode.ts';
import type { Heartbeat } from './heartbeat.ts';
import type { Subscription } from './request.ts';
import { EventStream, type StreamPolicy } from './stream.ts';

/** Streams ended per turn of the event loop at shutdown: 2,000 at once held the loop for ~300 ms, starving the publishes being answered meanwhile. */
const SHUTDOWN_BATCH = 100;

export interface StreamsOptions {
  readonly retryMs: number;
  readonly bufferBytes: number;
  readonly dropOldest: boolean;
}

/**
 * Every open stream of this process: opening one (headers, preamble, subscribe, replay, live)
 * and ending them all at shutdown.
 */
export class Streams {
  private readonly open = new Set<EventStream>();
  private readonly hub: Hub;
  private readonly history: History;
  private readonly heartbeat: Heartbeat;
  private readonly metrics: Metrics;
  private readonly policy: StreamPolicy;
  private readonly preamble: Buffer;
  private readonly retryMs: number;

  constructor(deps: { hub: Hub; history: History; heartbeat: Heartbeat; metrics: Metrics }, options: StreamsOptions) {
    this.hub = deps.hub;
    this.history = deps.history;
    this.heartbeat = deps.heartbeat;
    this.metrics = deps.metrics;
    this.retryMs = options.retryMs;
    this.preamble = encodePreamble(options.retryMs);
    const metrics = deps.metrics;
    this.policy = {
      bufferBytes: options.bufferBytes,
      dropOldest: options.dropOldest,
      onReplayed: (events) => metrics.eventsReplayed.inc(events),
      onGap: (reason) => metrics.gaps.inc({ reason }),
      onSlow: (action, events) => (action === 'disconnect' ? metrics.slowClientDisconnects.inc() : metrics.slowClientDrops.inc(events)),
      onBuffered: (bytes) => metrics.bufferedBytes.inc(bytes),
      onClose: (stream, reason) => this.forget(stream, reason),
    };
  }

  get size(): number {
    return this.open.size;
  }

  /** Resolves with the stream once it is live (or replaying), so the caller can end it later (credential expiry). */
  async start(request: RequestHead, response: Reply, subscription: Subscription): Promise<EventStream> {
    request.socket.setKeepAlive(true, 30_000);
    response.writeHead(200, STREAM_HEADERS);
    // Headers and preamble leave at once, so proxies and clients see a live stream before any event.
    response.write(this.preamble);

    const stream = new EventStream(response, subscription.channels, this.policy);
    // Subscribe before reading history: whatever is published meanwhile is held, not lost.
    for (const channel of subscription.channels) this.hub.subscribe(channel, stream, subscription.channels.length);
    this.open.add(stream);
    this.heartbeat.add(stream);
    this.metrics.connectionsOpened.inc();
    this.metrics.connectionsOpen.inc();

    if (subscription.lastEventId === undefined) {
      stream.goLive();
      return stream;
    }
    const items = await this.history.replay(subscription.channels, subscription.lastEventId);
    stream.replayThenLive(items, subscription.lastEventId);
    return stream;
  }

  /**
   * Ends every stream with a jittered `retry:` so each client resumes by Last-Event-ID: used when
   * a shared log says this process's live feed lost continuity and could not repair it in the
   * open streams (History.onReset: the catch-up read failed), where resuming from the log is exact
   * and guessing is not.
   */
  resumeAll(): void {
    for (const stream of this.open) stream.shutdown(this.jitteredRetry());
  }

  /**
   * Ends every stream with a jittered `retry:` and hangs up, then waits, up to `deadlineMs`, until
   * each connection's last bytes are with the kernel; then destroys every stream socket.
   *
   * A stream counts as closed as soon as its response ends, but its retry line may still sit in
   * the socket's buffer behind events a slow client has not read: destroying it then, or exiting,
   * would drop the line that tells the client when to come back. Waiting on the socket's 'finish'
   * (its FIN queued behind everything) is what says the bytes left; once they did, destroying the
   * socket or exiting loses nothing, the kernel still delivers them. A client that reads nothing
   * never lets 'finish' come, so the deadline bounds the wait.
   *
   * Streams are ended SHUTDOWN_BATCH per turn of the event loop: publishes still in flight are
   * answered between batches instead of waiting behind every stream (and their connections being
   * cut before their answer leaves).
   */
  async shutdown(deadlineMs: number): Promise<void> {
    const streams = Array.from(this.open);
    const sockets = streams.map((stream) => stream.socket);
    for (let index = 0; index < streams.length; index += 1) {
      (streams[index] as EventStream).shutdown(this.jitteredRetry(), true);
      if ((index + 1) % SHUTDOWN_BATCH === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs).unref()));
    await Promise.race([Promise.all(sockets.map(flushed)), deadline]);
    clearTimeout(timer);
    for (const stream of this.open) stream.abort('shutdown');
    for (const socket of sockets) socket.destroy();
  }

  /** Spread over [retry, 3 × retry] so a fleet of browsers does not return in one wave. */
  private jitteredRetry(): number {
    return this.retryMs * (1 + 2 * Math.random());
  }

  private forget(stream: EventStream, reason: string): void {
    if (!this.open.delete(stream)) return;
    for (const channel of stream.channels) this.hub.unsubscribe(channel, stream);
    this.heartbeat.remove(stream);
    this.metrics.connectionsOpen.dec();
    this.metrics.connectionsClosed.inc({ reason });
  }
}

/** Resolves once everything written to `socket` is with the kernel and its FIN is sent, or once it is gone. */
function flushed(socket: Socket): Promise<void> {
  if (socket.writableFinished || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('finish', resolve);
    socket.once('close', resolve);
  });
}
