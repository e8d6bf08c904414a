/** Messages between the orchestrator and its load generator processes (over the fork IPC channel). */

export interface OpenCommand {
  readonly type: 'open';
  readonly port: number;
  /** e.g. /events/fanout */
  readonly path: string;
  readonly count: number;
  /** Sent as Last-Event-ID on every connection when set. */
  readonly lastEventId?: string;
  /** The publisher's sequence number the client already has: seq checks start after it. */
  readonly resumeSeq: number;
  /** Every n-th connection parses timestamps for latency; the rest only count. */
  readonly sampleEvery: number;
  /** Parse every connection's sequence numbers to find loss and duplicates (storm). */
  readonly trackSeq: boolean;
  /** Connections being set up at once. */
  readonly concurrency: number;
  readonly timeoutMs: number;
}

/** Resolves when every open connection has `events` data events, or has seen sequence number `seq`. */
export interface AwaitCommand {
  readonly type: 'await';
  readonly by: 'events' | 'seq';
  readonly target: number;
  readonly timeoutMs: number;
}

export type Command =
  | OpenCommand
  | AwaitCommand
  /** Remember each connection's count of blocks (events and heartbeats) as a baseline. */
  | { readonly type: 'mark' }
  /** Totals, and the latency samples gathered since the last stats (drained). */
  | { readonly type: 'stats' }
  | { readonly type: 'close' };

export interface Opened {
  readonly ok: number;
  readonly failed: number;
  readonly firstError: string | undefined;
  readonly ms: number;
}

export interface Awaited {
  readonly reached: number;
  readonly missing: number;
  /** process.hrtime in ns (one clock for every process on the machine) when the last one got there. */
  readonly lastAtNs: number;
}

export interface Stats {
  readonly open: number;
  readonly closedByPeer: number;
  readonly events: number;
  readonly bytes: number;
  /** Fewest blocks any open connection received since `mark`, and how many got fewer than two. */
  readonly minBlocksSinceMark: number;
  readonly belowTwoSinceMark: number;
  readonly duplicates: number;
  readonly missing: number;
  readonly latenciesMs: number[];
  /** CPU time this load generator has used since it started: to tell a slow server from a saturated client. */
  readonly cpuSeconds: number;
}

export interface Request {
  readonly id: number;
  readonly command: Command;
}

export interface Reply {
  readonly id: number;
  readonly result: Opened | Awaited | Stats | null;
}
