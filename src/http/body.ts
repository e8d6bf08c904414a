import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';

/**
 * The request body, refused with 413 as soon as it is known to exceed `limit`: from
 * Content-Length before reading anything, or while reading a chunked body. Never buffers more
 * than `limit` bytes.
 */
export async function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function tooLarge(limit: number): GatewayError {
  // Connection: close, because the rest of the body is not read and must not be parsed as a next request.
  return new GatewayError('SSEG_PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`, { Connection: 'close' });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Bytes to text, refusing invalid UTF-8 instead of silently replacing it with U+FFFD. */
export function decodeUtf8(bytes: Buffer): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new GatewayError('SSEG_BAD_ENCODING', 'request body is not valid UTF-8');
  }
}
