/** What an ingress hands the log: already validated, data already a string. */
export interface EventInput {
  readonly channel: string;
  readonly event?: string | undefined;
  readonly data: string;
}

/** An event once the log has accepted it: its id assigned and its wire bytes encoded, once. */
export interface LoggedEvent {
  /**
   * Where the event stands in this process's delivery order: the log's seq, plus a base that
   * grows when a shared log moves to a new epoch and the live feed is repaired in place (a new
   * epoch's seqs restart, and a stream only sends what is past what it sent). The id is the log's own.
   */
  readonly seq: number;
  readonly id: string;
  readonly channel: string;
  /** The complete `id:/event:/data:` frame every subscriber's socket receives as is. */
  readonly frame: Buffer;
  /** process.hrtime.bigint() when this process took it in; the publish-to-write histogram starts here. */
  readonly acceptedAt: bigint;
}

/**
 * Why a resume cannot be exact. `trimmed`: events after the client's id left the window
 * (maxEvents/maxAge). `epoch-changed`: the id is from a history that no longer exists (a restart
 * of the in-memory log). `malformed-id`: not an id this gateway issued. `unknown-id`: ahead of
 * the log. `slow-client`: this client's buffer overflowed under `drop-oldest`.
 */
export type GapReason = 'trimmed' | 'epoch-changed' | 'malformed-id' | 'unknown-id' | 'slow-client';

/** A hole in what a client receives, placed at `seq` in the stream (the last seq it covers). */
export interface Gap {
  readonly reason: GapReason;
  readonly seq: number;
  /** The id the gap event carries: resuming from it continues right after the hole. */
  readonly id: string;
  readonly channels: readonly string[];
}

export type ReplayItem = { readonly event: LoggedEvent; readonly gap?: undefined } | { readonly gap: Gap; readonly event?: undefined };

/**
 * The log every event goes through. It assigns ids, keeps a bounded window per channel for
 * replay, and tells its listeners (the hub) about every event appended, in id order.
 */
export interface History {
  /** Atomic: every event is appended, or none is. Resolves once they are in the log. */
  append(events: readonly EventInput[]): Promise<LoggedEvent[]>;
  /**
   * Everything on `channels` after `lastEventId`, oldest first, with a gap item wherever the
   * log cannot vouch for completeness. The items end at the log's head at the time of reading.
   */
  replay(channels: readonly string[], lastEventId: string): Promise<ReplayItem[]>;
  /**
   * Called for every appended event, in id order: synchronously with the append becoming visible
   * (memory), or as this process learns of it (a shared log: every instance, once per event).
   */
  onEvent(listener: (event: LoggedEvent) => void): void;
  /**
   * Shared logs only. Called when this process's live feed lost continuity (a hole in the
   * sequence, or the log was reset under it): open streams can no longer vouch for what they
   * sent, so they should end and let their clients resume by Last-Event-ID.
   */
  onReset?(listener: () => void): void;
  /**
   * Shared logs only. Which channels this process's streams are on: after a lost subscription, a
   * hole or a new epoch, the log reads what they missed from itself and delivers it through
   * onEvent (gaps included) before new events, so streams stay open. Without it, onReset.
   */
  followChannels?(provider: () => Iterable<string>): void;
  /** Connects and resolves once the log can be used, or after `timeoutMs` whatever its state. Memory has nothing to start. */
  start?(timeoutMs: number): Promise<void>;
  /** False while the log cannot take appends (its store is unreachable); /readyz reports it. Absent: always ready. */
  isReady?(): boolean;
  close(): Promise<void>;
}
