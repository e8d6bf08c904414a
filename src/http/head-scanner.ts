const CR = 0x0d;
const LF = 0x0a;

/** Where the scan is within the line endings: in a line, after CR, after CRLF, after CRLF CR. */
const At = { Line: 0, Cr: 1, CrLf: 2, CrLfCr: 3 } as const;
type Position = (typeof At)[keyof typeof At];

export type ScanResult =
  /** The head is not complete yet. */
  | { readonly kind: 'more' }
  /** The head ends at `end` (the offset of its blank line's CRLF CR LF), `extra` bytes follow it. */
  | { readonly kind: 'head'; readonly end: number; readonly bytes: Buffer }
  /** A bare CR or LF: not a head the front door reads; node:http decides (it answers 400). */
  | { readonly kind: 'unusual'; readonly bytes: Buffer };

/**
 * Finds the end of a request head in bytes that arrive in pieces, looking at each byte once:
 * chunks are kept in a list and joined once, when the head is complete, so a head trickled a
 * byte at a time costs linear time, not the quadratic Buffer.concat of every chunk so far.
 * A CR not followed by LF, or an LF not preceded by CR, ends the scan as unusual at once (a
 * head ending in LF LF would otherwise wait for a CRLF CRLF that never comes).
 */
export class HeadScanner {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private at: Position = At.Line;

  /** Bytes taken so far. */
  get size(): number {
    return this.length;
  }

  /** Every byte taken so far, joined (for handing them back to node:http). */
  bytes(): Buffer {
    return this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.length);
  }

  push(chunk: Buffer): ScanResult {
    const offset = this.length;
    this.chunks.push(chunk);
    this.length += chunk.length;
    for (let i = 0; i < chunk.length; i += 1) {
      const byte = chunk[i];
      if (byte === CR) {
        if (this.at === At.Cr || this.at === At.CrLfCr) return { kind: 'unusual', bytes: this.bytes() };
        this.at = this.at === At.CrLf ? At.CrLfCr : At.Cr;
      } else if (byte === LF) {
        if (this.at === At.Cr) this.at = At.CrLf;
        else if (this.at === At.CrLfCr) return { kind: 'head', end: offset + i - 3, bytes: this.bytes() };
        else return { kind: 'unusual', bytes: this.bytes() };
      } else {
        if (this.at === At.Cr || this.at === At.CrLfCr) return { kind: 'unusual', bytes: this.bytes() };
        this.at = At.Line;
      }
    }
    return { kind: 'more' };
  }
}
