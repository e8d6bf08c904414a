/**
 * The id every event carries, and the cursor a client resumes from. It is `<epoch>-<seq>`:
 * `seq` is one sequence shared by every channel of a log, so a single id says exactly where a
 * stream of any number of channels stopped (every event with a smaller seq on those channels
 * was delivered before it). `epoch` names the log's lifetime: a history that was wiped starts a
 * new epoch, so an id from before is recognised as such rather than misread as a position.
 * Clients treat ids as opaque strings.
 */
export interface Cursor {
  readonly epoch: string;
  readonly seq: number;
}

const CURSOR_PATTERN = /^([a-z0-9]{1,16})-(\d{1,15})$/;

export function formatCursor(epoch: string, seq: number): string {
  return `${epoch}-${seq}`;
}

/** The cursor, or undefined when the text is not one of ours. */
export function parseCursor(text: string): Cursor | undefined {
  const match = CURSOR_PATTERN.exec(text);
  if (!match?.[1] || match[2] === undefined) return undefined;
  return { epoch: match[1], seq: Number(match[2]) };
}
