import type { Socket } from 'node:net';
import type { Gap, LoggedEvent, ReplayItem } from '../history/history.ts';
import type { Reply } from '../http/reply.ts';
import { deliveryOf, type Delivery, type Subscriber } from '../hub/hub.ts';
import { encodeEvent, encodeRetry, HEARTBEAT, HEARTBEAT_CHUNK } from '../sse/encode.ts';
import type { Beating } from './heartbeat.ts';

/** `expired`: the credential the stream was opened with expired (src/auth/expiry.ts); the client reconnects with a fresh one. */
export type CloseReason = 'client' | 'slow' | 'shutdown' | 'error' | 'expired';

/** What every stream of one gateway shares: policy and reporting, held once, not per client. */
export interface StreamPolicy {
  /** Bytes of events a stream may hold back for a client whose socket is full. */
  readonly bufferBytes: number;
  readonly dropOldest: boolean;
  readonly onReplayed: (events: number) => void;
  readonly onGap: (reason: Gap['reason']) => void;
  readonly onSlow: (action: 'disconnect' | 'drop', events: number) => void;
  /** Bytes entering (+) or leaving (-) the waiting queues; only called on the slow path. */
  readonly onBuffered: (bytes: number) => void;
  readonly onClose: (stream: EventStream, reason: CloseReason) => void;
}

/** Largest write of replayed history: big enough that a typical backlog is one syscall. */
const REPLAY_PAGE_BYTES = 64 * 1024;

const REPLAYING = 0;
const LIVE = 1;
/** Aborted or shut down, waiting for the socket's 'close': takes no more events, counts nothing twice. */
const ENDING = 2;
const CLOSED = 3;

/**
 * One client's connection, opened after its response head and preamble were written.
 *
 * It starts in REPLAYING, where live deliveries are held while history is read, then goes LIVE
 * and sends what was held beyond what replay sent: the seam has neither a hole nor a duplicate
 * because both sides are ordered by seq and only seq > lastSeq is sent.
 *
 * Events go straight to the socket as the pre-framed chunk the hub built once for everyone,
 * not through ServerResponse.write (which would frame and allocate per client). Backpressure
 * comes from the socket: once write() reports its buffer past the high-water mark, deliveries
 * wait in a queue bounded by `bufferBytes` until 'drain'. When that overflows, the policy
 * decides: close the stream (the client resumes by Last-Event-ID) or drop the oldest waiting
 * events and tell the client with a `gap` whose id resumes right after them.
 */
export class EventStream implements Subscriber, Beating {
  readonly channels: readonly string[];
  private readonly response: Reply;
  /** Public for shutdown, which waits for each connection's last bytes to leave. */
  readonly socket: Socket;
  /** HTTP/1.1 responses are chunked; HTTP/1.0 ones are delimited by closing the connection. */
  private readonly chunked: boolean;
  private readonly policy: StreamPolicy;
  private state = REPLAYING;
  private lastSeq = 0;
  private held: Delivery[] = [];
  /** History still to send while REPLAYING: what the log returned, and how far this stream got. */
  private backlog: { readonly items: readonly ReplayItem[]; next: number; readonly lastEventId: string; replayed: number } | undefined;
  private heldBytes = 0;
  private blocked = false;
  /** Corked by the hub for the rest of a flush (gather/release). */
  private gathering = false;
  private readonly waiting: Delivery[] = [];
  private waitingBytes = 0;
  private dropped = 0;
  private droppedThrough: LoggedEvent | undefined;
  private wroteSinceBeat = true;
  private closeReason: CloseReason = 'client';

  constructor(response: Reply, channels: readonly string[], policy: StreamPolicy) {
    if (response.socket === null) throw new Error('a stream needs its response to have a socket');
    this.response = response;
    this.socket = response.socket;
    this.chunked = response.chunkedEncoding;
    this.channels = channels;
    this.policy = policy;
    this.socket.on('drain', () => this.drained());
    response.on('close', () => this.closed());
    response.on('error', () => {
      this.closeReason = 'error';
    });
  }

  /** Hub side: one delivery of live events on one of this stream's channels. */
  deliver(delivery: Delivery): void {
    if (this.state === LIVE) {
      if (delivery.last.seq <= this.lastSeq) return;
      // Only a delivery straddling the replay seam overlaps what was sent; the hub's are in seq order.
      const fresh = delivery.events[0] !== undefined && delivery.events[0].seq <= this.lastSeq ? this.newerPart(delivery) : delivery;
      this.lastSeq = delivery.last.seq;
      this.send(fresh);
    } else if (this.state === REPLAYING) {
      this.hold(delivery);
    }
  }

  /** Hub side: several deliveries follow in one flush; the socket holds them and writes them as one. */
  gather(): boolean {
    if (this.gathering || this.state !== LIVE) return false;
    this.gathering = true;
    this.socket.cork();
    return true;
  }

  release(): void {
    if (!this.gathering) return;
    this.gathering = false;
    this.socket.uncork();
  }

  /**
   * Sends what history returned for this client, then goes live with what arrived meanwhile.
   *
   * Consecutive events leave as one buffer and one write: a client 100 events behind costs one
   * syscall. A long backlog leaves in pages paced by the socket, though: once a page fills it,
   * the next waits for 'drain'. So a client that reads slowly gets its whole backlog (live events
   * meanwhile are held, within the buffer bound), while one that does not read never makes the
   * gateway copy megabytes of history into its socket's memory.
   */
  replayThenLive(items: readonly ReplayItem[], lastEventId: string): void {
    this.backlog = { items, next: 0, lastEventId: lastEventId.slice(0, 128), replayed: 0 };
    this.continueReplay();
  }

  /** Writes backlog pages until the socket is full (then 'drain' calls it again) or the backlog is done. */
  private continueReplay(): void {
    const backlog = this.backlog;
    if (backlog === undefined) return;
    const pageBytes = Math.min(this.policy.bufferBytes, REPLAY_PAGE_BYTES);
    let run: LoggedEvent[] = [];
    let runBytes = 0;
    const flushRun = (): void => {
      if (run.length === 0) return;
      backlog.replayed += run.length;
      this.send(deliveryOf(run));
      run = [];
      runBytes = 0;
    };
    const { items } = backlog;
    while (backlog.next < items.length) {
      if (this.state >= ENDING) return;
      const item = items[backlog.next];
      if (item === undefined) break;
      if (item.event) {
        const { event } = item;
        if (event.seq <= this.lastSeq) {
          backlog.next += 1;
          continue;
        }
        if (run.length > 0 && runBytes + event.frame.length > pageBytes) {
          flushRun();
          if (this.blocked) return;
          continue;
        }
        this.lastSeq = event.seq;
        run.push(event);
        runBytes += event.frame.length;
      } else {
        flushRun();
        this.lastSeq = Math.max(this.lastSeq, item.gap.seq);
        this.sendGap(item.gap.reason, item.gap.id, item.gap.seq, item.gap.channels, { lastEventId: backlog.lastEventId });
      }
      backlog.next += 1;
    }
    flushRun();
    this.backlog = undefined;
    if (backlog.replayed > 0) this.policy.onReplayed(backlog.replayed);
    this.goLive();
  }

  goLive(): void {
    if (this.state !== REPLAYING) return;
    this.state = LIVE;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const delivery of held) this.deliver(delivery);
  }

  /** Shared heartbeat timer: a comment only if nothing was written since the last tick. */
  beat(): void {
    if (this.state === LIVE && !this.wroteSinceBeat && !this.blocked) this.socket.write(this.chunked ? HEARTBEAT_CHUNK : HEARTBEAT);
    this.wroteSinceBeat = false;
  }

  /**
   * Ends the stream with a reconnect hint; `retryMs` is jittered by the caller. `hangUp` closes
   * the connection too (the process is going away), rather than leaving it open for the client's
   * next request.
   */
  shutdown(retryMs: number, hangUp = false): void {
    if (this.state >= ENDING) return;
    this.state = ENDING;
    this.closeReason = 'shutdown';
    // Through the response, which frames it and writes the terminating chunk after everything already on the socket.
    this.response.end(encodeRetry(retryMs));
    // The FIN queues behind those bytes, so the socket's 'finish' says they all reached the kernel.
    if (hangUp) this.socket.end();
  }

  /** Drops the connection without ceremony (shutdown deadline passed, a slow client, an expired credential). */
  abort(reason: CloseReason): void {
    if (this.state === CLOSED) return;
    // After shutdown's polite end, the deadline may still need to force the socket shut.
    if (this.state !== ENDING) this.closeReason = reason;
    this.state = ENDING;
    this.response.destroy();
  }

  private send(delivery: Delivery): void {
    if (this.blocked) {
      this.enqueue(delivery);
      return;
    }
    this.write(delivery);
  }

  /** The one socket write of a delivery: the shared chunk, or its unframed view for HTTP/1.0. */
  private write(delivery: Delivery): void {
    this.wroteSinceBeat = true;
    if (!this.socket.write(this.chunked ? delivery.chunk : delivery.frames)) this.blocked = true;
  }

  private enqueue(delivery: Delivery): void {
    const size = delivery.frames.length;
    if (this.waitingBytes + size <= this.policy.bufferBytes) {
      this.wait(delivery);
      return;
    }
    if (!this.policy.dropOldest) {
      this.policy.onSlow('disconnect', 0);
      this.abort('slow');
      return;
    }
    // A delivery larger than the whole buffer (several events coalesced into one flush) keeps its
    // newest events that fit; only a single event larger than the buffer can never be kept.
    const kept = size > this.policy.bufferBytes ? this.newestThatFit(delivery) : delivery;
    let dropped = delivery.events.length - (kept?.events.length ?? 0);
    if (dropped > 0) this.droppedThrough = delivery.events[dropped - 1];
    const keptSize = kept?.frames.length ?? 0;
    const before = this.waitingBytes;
    // Everything waiting must stay newer than everything dropped (drained() sends the gap first):
    // once part of the new delivery is dropped, so is every older event still waiting.
    const dropAll = kept !== delivery;
    while (this.waiting.length > 0 && (dropAll || this.waitingBytes + keptSize > this.policy.bufferBytes)) {
      const oldest = this.waiting.shift();
      if (oldest === undefined) break;
      this.waitingBytes -= oldest.frames.length;
      // Older than anything dropped from the new delivery: the gap's id still resumes after the newest hole.
      if (!dropAll) this.droppedThrough = oldest.last;
      dropped += oldest.events.length;
    }
    if (before !== this.waitingBytes) this.policy.onBuffered(this.waitingBytes - before);
    this.dropped += dropped;
    this.policy.onSlow('drop', dropped);
    if (kept !== undefined) this.wait(kept);
  }

  private wait(delivery: Delivery): void {
    this.waiting.push(delivery);
    this.waitingBytes += delivery.frames.length;
    this.policy.onBuffered(delivery.frames.length);
  }

  private drained(): void {
    if (this.state >= ENDING) return;
    this.blocked = false;
    const droppedThrough = this.droppedThrough;
    if (droppedThrough !== undefined) {
      // Everything waiting is newer than what was dropped, so the gap goes first; its id resumes after the hole.
      this.sendGap('slow-client', droppedThrough.id, droppedThrough.seq, this.channels, { dropped: this.dropped });
      this.dropped = 0;
      this.droppedThrough = undefined;
    }
    const before = this.waitingBytes;
    while (this.waiting.length > 0 && !this.blocked) {
      const delivery = this.waiting.shift();
      if (delivery === undefined) break;
      this.waitingBytes -= delivery.frames.length;
      this.write(delivery);
    }
    if (before !== this.waitingBytes) this.policy.onBuffered(this.waitingBytes - before);
    if (!this.blocked && this.state === REPLAYING) this.continueReplay();
  }

  private hold(delivery: Delivery): void {
    this.heldBytes += delivery.frames.length;
    if (this.heldBytes > this.policy.bufferBytes) {
      // Live traffic outran the replay read: resuming later is cheaper than holding without bound.
      this.policy.onSlow('disconnect', 0);
      this.abort('slow');
      return;
    }
    this.held.push(delivery);
  }

  /** The longest run of `delivery`'s newest events whose bytes fit in the buffer; undefined when not even the newest does. */
  private newestThatFit(delivery: Delivery): Delivery | undefined {
    const { events } = delivery;
    let bytes = 0;
    let from = events.length;
    while (from > 0) {
      const size = events[from - 1]?.frame.length ?? 0;
      if (bytes + size > this.policy.bufferBytes) break;
      bytes += size;
      from -= 1;
    }
    return from === events.length ? undefined : deliveryOf(events.slice(from));
  }

  private newerPart(delivery: Delivery): Delivery {
    return deliveryOf(delivery.events.filter((event) => event.seq > this.lastSeq));
  }

  /** Gaps are the one per-client frame: rare, and they must speak of this client's own position. */
  private sendGap(reason: Gap['reason'], id: string, seq: number, channels: readonly string[], detail: Record<string, unknown>): void {
    const data = JSON.stringify({ reason, channels, ...detail, message: gapMessages[reason] });
    this.policy.onGap(reason);
    // Through send(), not straight to the socket, so a gap never overtakes events already waiting.
    this.send(deliveryOf([{ seq, id, channel: '', frame: encodeEvent(id, 'gap', data), acceptedAt: 0n }]));
  }

  private closed(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.held = [];
    this.backlog = undefined;
    this.waiting.length = 0;
    if (this.waitingBytes > 0) this.policy.onBuffered(-this.waitingBytes);
    this.waitingBytes = 0;
    this.policy.onClose(this, this.closeReason);
  }
}

const gapMessages: Readonly<Record<Gap['reason'], string>> = {
  'trimmed': 'Events after your last id are no longer in history on these channels; some were missed.',
  'epoch-changed': 'Your last id is from an earlier history (the gateway or its log was reset); events since then may be missing.',
  'malformed-id': 'Last-Event-ID is not an id this gateway issued; streaming from now.',
  'unknown-id': 'Last-Event-ID is ahead of this history; streaming from now.',
  'slow-client': 'This client fell behind and its oldest waiting events were dropped.',
};
