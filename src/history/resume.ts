import { formatCursor, type Cursor } from '../sse/cursor.ts';
import type { Gap, GapReason, ReplayItem } from './history.ts';

/**
 * How every log answers a resume (docs/architecture.md, "Ids"): where the replay starts, which
 * gaps it owes and at which seq, and in what order the items go. Written once so that the memory
 * and the Redis log cannot drift apart; each only reads its own store.
 */

/** Where the log stood when it was read: its epoch, its head, and the seq its epoch began after (0 for a log that began empty). */
export interface LogPosition {
  readonly epoch: string;
  readonly head: number;
  readonly since: number;
}

/**
 * The outcome of a cursor: either one gap answers it all (`answer`), or the replay reads each
 * channel after `after`, and an id from another epoch owes `epochGap` first.
 */
export type ResumePoint =
  | { readonly answer: ReplayItem; readonly after?: undefined; readonly epochGap?: undefined }
  | { readonly answer?: undefined; readonly after: number; readonly epochGap: ReplayItem | undefined };

/**
 * Where a resume from `cursor` (undefined: it did not parse) starts in a log at `position`.
 * - Not an id this gateway issued: `malformed-id` at the head; nothing can be vouched for.
 * - An id of this epoch past the head: `unknown-id` at the head. Never taken as evidence that the
 *   log went back: any client could then send one and start a new epoch for the whole fleet.
 * - An id of another epoch vouches for nothing in this one: an `epoch-changed` gap where this epoch
 *   began, then every event it holds. The streams an epoch change ended come back for exactly
 *   those; a gap at the head would hide whatever was appended while they reconnected.
 */
export function resumePoint(cursor: Cursor | undefined, position: LogPosition, channels: readonly string[]): ResumePoint {
  if (cursor === undefined) return { answer: gapItem('malformed-id', position.epoch, position.head, channels) };
  if (cursor.epoch !== position.epoch) return { after: position.since, epochGap: gapItem('epoch-changed', position.epoch, position.since, channels) };
  if (cursor.seq > position.head) return { answer: gapItem('unknown-id', position.epoch, position.head, channels) };
  return { after: cursor.seq, epochGap: undefined };
}

/**
 * One channel's `trimmed` gap, if a client that has everything through `after` missed any of it:
 * `lostThrough` is the newest seq of the channel the log no longer holds (trimmed, aged out, or
 * the channel forgotten). The gap stands at that seq, so resuming from its own id is exact.
 */
export function trimmedGap(epoch: string, lostThrough: number, after: number, channel: string): ReplayItem | undefined {
  return lostThrough > after ? gapItem('trimmed', epoch, lostThrough, [channel]) : undefined;
}

export function gapItem(reason: GapReason, epoch: string, seq: number, channels: readonly string[]): ReplayItem {
  const gap: Gap = { reason, seq, id: formatCursor(epoch, seq), channels };
  return { gap };
}

/**
 * Puts replay items in seq order, in place: a multi-channel resume interleaves one channel's gap
 * between the other channels' events before and after it. Gaps sort before events of the same
 * seq: a gap at N says "through N is lost", and the event N+1 follows it. Two gaps at one seq
 * (channels forgotten together) keep the order of their channels: the sort is stable.
 */
export function inSeqOrder(items: ReplayItem[]): ReplayItem[] {
  return items.sort((a, b) => seqOf(a) - seqOf(b) || (b.gap ? 1 : 0) - (a.gap ? 1 : 0));
}

export function seqOf(item: ReplayItem): number {
  return item.event ? item.event.seq : item.gap.seq;
}
