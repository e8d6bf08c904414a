import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.ts';
import { hangUp } from './hang-up.ts';

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

const JSON_TYPE = 'application/json; charset=utf-8';

export function sendJson(response: Reply, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': JSON_TYPE,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  response.end(text);
}

/** Anything not a GatewayError is a bare 500: its own message may name paths, libraries or secrets. */
function known(error: unknown): GatewayError {
  return error instanceof GatewayError ? error : new GatewayError('SSEG_INTERNAL', 'internal error');
}

/**
 * The one way an error is written, whichever way the request came in: `{"error": CODE,
 * "message": text}` with the code's status and headers (Retry-After from the registry). Through
 * a Reply (node:http's ServerResponse, or the front door's RawReply)...
 */
export function sendError(response: Reply, error: unknown): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const refusal = known(error);
  sendJson(response, refusal.status, { error: refusal.code, message: refusal.message }, refusal.headers);
}

/**
 * ...or as the whole HTTP/1.1 response for a bare socket that has no request object to answer
 * through (node:http could not parse the request; an upgrade the proxy refuses). The connection
 * closes after it: nothing after a refused head can be trusted as the next request.
 */
export function errorBytes(error: unknown): Buffer {
  const refusal = known(error);
  const body = JSON.stringify({ error: refusal.code, message: refusal.message });
  let head = `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status] ?? ''}\r\nConnection: close\r\nContent-Type: ${JSON_TYPE}\r\nCache-Control: no-store\r\n`;
  for (const [name, value] of Object.entries(refusal.headers)) if (name.toLowerCase() !== 'connection') head += `${name}: ${value}\r\n`;
  return Buffer.from(`${head}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, 'utf8');
}

/** An error answer straight onto a bare socket (an upgrade refused, by the gateway or because the app failed). */
export function writeSocketError(socket: Duplex, error: unknown): void {
  hangUp(socket, errorBytes(error));
}
