import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics/metrics.ts';
import type { RedisClient } from '../../redis/connect.ts';
import { newEpoch } from '../epoch.ts';
import { waitReady } from './connections.ts';
import { errorInfo } from './failure.ts';
import type { CheckReply, EpochOffer, LogScripts } from './scripts.ts';

/** Epochs remembered as replaced: enough to recognise a log that comes back with one, small enough to scan per notification. */
const MAX_RETIRED = 8;

/** The log has a new epoch and this process now follows it from `head`: its streams must resume, for `why`. */
export interface Moved {
  readonly head: number;
  readonly why: string;
}

/**
 * What one notification says of the epoch: `current` (the one this process follows), `first` (it
 * followed none yet), `changed` (the log was wiped or replaced: a new epoch), or `stale` (an
 * epoch seen replaced, or a seq at or below one already heard: the log went back).
 */
export type Verdict = 'current' | 'first' | 'changed' | 'stale';

/**
 * This process's evidence about the log's epoch and position, and the rules of docs/architecture.md
 * "A log that goes back": an id names one event, so when this process sees that the log no longer
 * holds what it saw, the log is made to start a new epoch (check.lua, a compare-and-set, so
 * instances that notice together start one) before any of those seqs can be issued again.
 *
 * It decides; the feed acts (ends streams, moves its ordering baseline) on what it returns.
 */
export class EpochGuard {
  /** Offered to the script in case the log has no epoch yet (new or wiped Redis); replaced once used, so a wiped log never gets an old epoch back. */
  private candidate = newEpoch();
  /** The epoch this process believes the log has; a notification with another means the log was wiped. */
  private current: string | undefined;
  /** Highest seq this process knows the log issued under `current` (notifications, append replies, head reads): a head behind it means the log went back. */
  private seen = 0;
  /**
   * The last notification heard under `current`: seq, channel and Redis time name one event, so the
   * check after an outage can tell whether the log still holds it. Three fields, not an object:
   * set per notification, and the hot path allocates nothing it can avoid.
   */
  private heardSeq = 0;
  private heardChannel = '';
  private heardTime = 0;
  /** Epochs this process saw replaced, newest last: a notification still carrying one is stale, and a log showing one again went back in time. */
  private readonly retired: string[] = [];
  /** Set while a log seen going back is made to start a new epoch; the streams resume once it has. */
  private rewinding: Promise<Moved | undefined> | undefined;
  private closed = false;
  private readonly scripts: LogScripts;
  private readonly client: RedisClient;
  private readonly logger: Logger;
  private readonly metrics: Metrics;

  constructor(scripts: LogScripts, client: RedisClient, logger: Logger, metrics: Metrics) {
    this.scripts = scripts;
    this.client = client;
    this.logger = logger;
    this.metrics = metrics;
  }

  get epoch(): string | undefined {
    return this.current;
  }

  /** The highest seq this process knows the log issued under its epoch. */
  get seenSeq(): number {
    return this.seen;
  }

  /** Whether this process saw `epoch` replaced: nothing of it may be delivered again. */
  replaced(epoch: string): boolean {
    return this.retired.includes(epoch);
  }

  /** A read (the feed's catch-up) found the log under `epoch` at `head`: this process follows it from there. */
  follow(epoch: string, head: number): void {
    if (epoch === this.current) {
      if (head > this.seen) this.seen = head;
      return;
    }
    this.adopt(epoch, head);
  }

  /** True while a new epoch is being started: a stream opened now would be reset as soon as it is. */
  get busy(): boolean {
    return this.rewinding !== undefined;
  }

  /** For a script that may start an epoch: what this process knows, so a log behind it is caught before a seq is taken. */
  offer(): EpochOffer {
    return { candidate: this.candidate, known: this.current ?? '', seen: this.seen };
  }

  /** A script answered with the log's epoch and `head` (or the newest seq it issued). */
  answered(epoch: string, head: number): void {
    if (epoch === this.candidate) this.candidate = newEpoch();
    if (epoch === this.current && head > this.seen) this.seen = head;
  }

  /** At start: the epoch and head now, so that a log wiped or gone back while our subscription is down is noticed when it comes back. */
  async baseline(): Promise<void> {
    await waitReady(this.client);
    const { epoch, head } = await this.check(undefined);
    if (this.current === undefined) {
      this.current = epoch;
      this.seen = head;
    }
  }

  /**
   * After the subscription came back: checks the log against what this process saw. A new epoch
   * (wiped, or gone back and replaced by this check) is followed from its head and returned as
   * `moved`; otherwise the head, which bounds what the subscription may have missed.
   */
  async afterLoss(): Promise<{ readonly head: number; readonly moved?: Moved | undefined }> {
    await waitReady(this.client);
    const { epoch, head, why } = await this.check(undefined);
    if (epoch !== this.current) {
      // The streams resume from the log; notifications up to this head are theirs by replay now.
      this.adopt(epoch, head);
      return {
        head,
        moved: { head, why: why === 'back' ? 'the log went back (lost or restored writes): started a new epoch' : 'the log was reset (new epoch)' },
      };
    }
    if (head > this.seen) this.seen = head;
    return { head };
  }

  /** Judges one notification by its epoch and seq; on the hot path, so it returns a constant and allocates nothing. */
  notified(epoch: string, seq: number): Verdict {
    // Published before this process moved on, or a log come back with an old epoch: never delivered.
    if (this.retired.length > 0 && this.retired.includes(epoch)) return 'stale';
    if (epoch !== this.current) {
      const had = this.current !== undefined;
      if (had) this.retire(this.current as string);
      this.current = epoch;
      this.seen = 0;
      this.heardSeq = 0;
      return had ? 'changed' : 'first';
    }
    if (seq <= this.heardSeq) {
      // One subscription hears notifications in publish order and seq only grows within an epoch:
      // the log went back, and this seq names another event than the one this process delivered.
      this.retire(epoch);
      return 'stale';
    }
    return 'current';
  }

  /** The notification this process heard last: the evidence check.lua compares with the log after an outage. */
  heard(seq: number, channel: string, time: number): void {
    this.heardSeq = seq;
    this.heardChannel = channel;
    this.heardTime = time;
    if (seq > this.seen) this.seen = seq;
  }

  /**
   * A notification showed the log went back under `epoch`, or came from an epoch this process saw
   * replaced. Nothing under that epoch is delivered from here on (its seqs name other events now);
   * once the log has a new epoch, this process follows it and the result says so (its streams
   * resume and their clients get a gap). Undefined when nothing moved, or while another rewind runs.
   */
  rewind(epoch: string): Promise<Moved | undefined> {
    if (this.rewinding !== undefined || this.closed) return Promise.resolve(undefined);
    const rewinding = (async (): Promise<Moved | undefined> => {
      try {
        await waitReady(this.client);
        const { epoch: current, head, why } = await this.check(epoch);
        // Already there: a notification of the new epoch came first and reset the streams, or this one was stale.
        if (current === this.current) return undefined;
        this.adopt(current, head);
        return { head, why: why === 'back' ? 'the log went back (lost or restored writes): started a new epoch' : 'the log has a new epoch' };
      } catch (error) {
        // Tried again on the next notification of that epoch, or by the check after a reconnect, which sees the same evidence.
        this.metrics.redisCommandsFailed.inc({ op: 'check' });
        this.logger.warn({ err: errorInfo(error) }, 'the log went back but a new epoch could not be started yet');
        return undefined;
      }
    })().finally(() => (this.rewinding = undefined));
    this.rewinding = rewinding;
    return rewinding;
  }

  close(): void {
    this.closed = true;
  }

  /**
   * Runs check.lua with what this process saw under its epoch (highest seq, last event heard),
   * or, with `rewound`, for an epoch already seen going back: the script then starts a new epoch
   * if the log is still at that one (compare-and-set: instances that noticed together start one).
   */
  private async check(rewound: string | undefined): Promise<{ epoch: string; head: number; why: CheckReply[2] }> {
    const candidate = this.candidate;
    const heard = rewound === undefined && this.heardSeq > 0 ? { seq: this.heardSeq, channel: this.heardChannel, time: this.heardTime } : undefined;
    const offer = { candidate, known: rewound ?? this.current ?? '', seen: rewound === undefined ? this.seen : 0 };
    const [epoch, head, why] = await this.scripts.check(offer, heard, rewound !== undefined);
    if (epoch === candidate) this.candidate = newEpoch();
    return { epoch, head: Number(head), why };
  }

  /** This process now follows `epoch` from `head`: what its streams hold is resumed from the log, so the feed starts there. */
  private adopt(epoch: string, head: number): void {
    if (this.current !== undefined && this.current !== epoch) this.retire(this.current);
    this.current = epoch;
    this.seen = head;
    this.heardSeq = 0;
  }

  private retire(epoch: string): void {
    if (this.retired.includes(epoch)) return;
    this.retired.push(epoch);
    if (this.retired.length > MAX_RETIRED) this.retired.shift();
  }
}
