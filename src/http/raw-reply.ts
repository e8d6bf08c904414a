import { EventEmitter } from 'node:events';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { hangUp } from './hang-up.ts';
import type { Reply } from './reply.ts';

const CHUNK_END = Buffer.from('0\r\n\r\n');

/**
 * A response written straight to the socket, for requests the front door took from Node's
 * http server. It costs one small object per stream where ServerResponse, IncomingMessage and
 * the parser state behind them cost several kilobytes. A chunked response that ends cleanly
 * leaves the connection open, as its `Connection: keep-alive` promised: the socket goes back to
 * the front door (`reuse`), which hands it to Node's http server for the next request (a
 * browser's EventSource may reconnect on it). Anything else closes the connection.
 */
export class RawReply extends EventEmitter implements Reply {
  readonly socket: Socket;
  headersSent = false;
  chunkedEncoding = false;
  destroyed = false;
  private readonly http10: boolean;
  private pendingHeaders: Map<string, [string, string | number | readonly string[]]> | undefined = new Map();
  private readonly reuse: (socket: Socket) => void;
  private readonly onSocketClose = (): void => this.finish();
  // Socket errors end in 'close'; report them only to whoever listens.
  private readonly onSocketError = (error: Error): void => {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  };

  constructor(socket: Socket, httpVersion: string, reuse: (socket: Socket) => void) {
    super();
    this.socket = socket;
    this.http10 = httpVersion === '1.0';
    this.reuse = reuse;
    socket.on('close', this.onSocketClose);
    socket.on('error', this.onSocketError);
  }

  setHeader(name: string, value: string | number | readonly string[]): this {
    this.pendingHeaders?.set(name.toLowerCase(), [name, value]);
    return this;
  }

  getHeader(name: string): string | number | readonly string[] | undefined {
    return this.pendingHeaders?.get(name.toLowerCase())?.[1];
  }

  writeHead(status: number, headers: Record<string, string | number> = {}): this {
    if (this.headersSent) return this;
    const all = this.pendingHeaders ?? new Map<string, [string, string | number | readonly string[]]>();
    for (const [name, value] of Object.entries(headers)) all.set(name.toLowerCase(), [name, value]);
    const delimited = all.has('content-length');
    this.chunkedEncoding = !delimited && !this.http10;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nDate: ${new Date().toUTCString()}\r\n`;
    for (const [, [name, value]] of all) {
      for (const item of Array.isArray(value) ? (value as readonly string[]) : [value]) head += `${name}: ${String(item)}\r\n`;
    }
    // A streaming response stays open on a persistent connection; an answer with a body closes it, as this reply serves only one.
    head += this.chunkedEncoding ? 'Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n' : 'Connection: close\r\n\r\n';
    this.pendingHeaders = undefined;
    this.headersSent = true;
    this.socket.write(head, 'latin1');
    return this;
  }

  write(chunk: Buffer | string): boolean {
    if (!this.headersSent) this.writeHead(200);
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!this.chunkedEncoding) return this.socket.write(bytes);
    this.socket.cork();
    this.socket.write(`${bytes.length.toString(16)}\r\n`, 'latin1');
    this.socket.write(bytes);
    const more = this.socket.write('\r\n', 'latin1');
    this.socket.uncork();
    return more;
  }

  end(chunk?: Buffer | string): this {
    if (this.destroyed) return this;
    if (chunk !== undefined && chunk.length > 0) this.write(chunk);
    else if (!this.headersSent) this.writeHead(200);
    if (!this.chunkedEncoding) {
      // The answer was delimited by Connection: close; the socket must not outlive it (hang-up.ts).
      hangUp(this.socket);
      return this;
    }
    this.socket.write(CHUNK_END);
    // The response is complete; the connection is not ours any more.
    this.socket.off('close', this.onSocketClose);
    this.socket.off('error', this.onSocketError);
    this.finish();
    this.reuse(this.socket);
    return this;
  }

  private finish(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  destroy(): this {
    this.socket.destroy();
    return this;
  }
}
