/**
 * The text/event-stream wire format. An event is encoded once into a Buffer that every
 * subscriber's socket receives as is: the fan-out never touches strings.
 */

/** Response headers for every stream. `no-transform` keeps CDNs from compressing (and so buffering); `X-Accel-Buffering` turns nginx's buffering off for this response even when the location forgot to. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
});

/** Sent on idle streams: a comment, ignored by every parser, that keeps proxies from timing the connection out. */
export const HEARTBEAT = Buffer.from(':\n\n');

const CRLF_LENGTH = 2;

/**
 * SSE bytes wrapped as one HTTP/1.1 chunk (`<hex length>\r\n<bytes>\r\n`) in a single allocation.
 * Streams write to the socket directly rather than through ServerResponse.write, which would
 * frame (and allocate) again for every client; the unframed bytes, for HTTP/1.0 clients, are a
 * view into the same memory.
 */
export function encodeChunk(parts: readonly Buffer[]): { chunk: Buffer; frames: Buffer } {
  let length = 0;
  for (const part of parts) length += part.length;
  const head = `${length.toString(16)}\r\n`;
  const chunk = Buffer.allocUnsafe(head.length + length + CRLF_LENGTH);
  let offset = chunk.write(head, 0, 'latin1');
  for (const part of parts) offset += part.copy(chunk, offset);
  chunk.write('\r\n', offset, 'latin1');
  return { chunk, frames: chunk.subarray(head.length, head.length + length) };
}

/** The heartbeat as a chunk, built once. */
export const HEARTBEAT_CHUNK = encodeChunk([HEARTBEAT]).chunk;

const LINE_BREAK = /\r\n|\r|\n/g;

/**
 * `id:`, optional `event:`, then one `data:` line per line of data. CR, LF and CRLF all end a
 * line in SSE, so each becomes its own `data:` line and the client reassembles it with LF.
 * Callers have already refused event names with control characters, so no field can be injected.
 */
export function encodeEvent(id: string, name: string | undefined, data: string): Buffer {
  // One concatenated string and one Buffer.from: the only allocations an event costs.
  let text = name === undefined ? `id: ${id}\ndata: ` : `id: ${id}\nevent: ${name}\ndata: `;
  text += data.replace(LINE_BREAK, '\ndata: ');
  text += '\n\n';
  return Buffer.from(text, 'utf8');
}

/** The first bytes of every stream: a comment so the response is visibly live at once, and the reconnect delay. */
export function encodePreamble(retryMs: number): Buffer {
  return Buffer.from(`:ok\nretry: ${retryMs}\n\n`);
}

/** A `retry:` on its own, sent at shutdown with a jittered delay so a fleet of clients does not reconnect in one wave. */
export function encodeRetry(retryMs: number): Buffer {
  return Buffer.from(`retry: ${Math.round(retryMs)}\n\n`);
}
