import type { Socket } from 'node:net';
import { GatewayError } from '../errors.ts';

/**
 * What the gateway writes a response through: ServerResponse fits it, and so does the front
 * door's RawReply for stream requests. Kept narrow on purpose.
 */
export interface Reply {
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  getHeader(name: string): unknown;
  writeHead(status: number, headers?: Record<string, string | number>): unknown;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): unknown;
  destroy(): unknown;
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  readonly socket: Socket | null;
  readonly chunkedEncoding: boolean;
  on(event: 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
}

export function sendJson(response: Reply, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/** `{"error": CODE, "message": text}` with the code's status; anything not a GatewayError is a bare 500. */
export function sendError(response: Reply, error: unknown): void {
  const known = error instanceof GatewayError ? error : new GatewayError('SSEG_INTERNAL', 'internal error');
  if (response.headersSent) {
    response.destroy();
    return;
  }
  sendJson(response, known.status, { error: known.code, message: known.message }, { ...known.headers });
}
