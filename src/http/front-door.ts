import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { hangUp } from './hang-up.ts';
import { HeadScanner } from './head-scanner.ts';
import { BAD_REQUEST } from './raw-errors.ts';
import { RawReply } from './raw-reply.ts';
import { parseGetHead, type RequestHead } from './request-head.ts';

export interface FrontDoorOptions {
  /** GET requests under this path are streams, taken before Node's http server sees them. */
  readonly streamsPath: string;
  /** A head larger than this is Node's to take or answer with 431, by its own count. */
  readonly maxHeadBytes: number;
  /** A client that has not sent its head by then is dropped (slowloris). */
  readonly headTimeoutMs: number;
}

export type StreamHandler = (head: RequestHead, reply: RawReply) => void;

export interface FrontDoor {
  /** Drops connections that have not finished sending their head: part of shutting down. */
  closeWaiting(): void;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * The first reader of every connection. A stream request (`GET <streams path>...`) is parsed
 * here and served on a RawReply, so an open stream keeps only its socket and a few small
 * objects: node:http would keep a parser, an IncomingMessage and a ServerResponse alive for the
 * stream's whole life, roughly tripling the memory of an idle connection. Every other
 * connection, and any stream request this parser finds unusual, goes to Node's own http server
 * with the bytes read so far put back (`unshift`), exactly as if it had read them itself.
 *
 * It takes the server's 'connection' event over with public EventEmitter calls: the listening
 * socket, connection tracking, timeouts and close() all stay Node's.
 */
export function installFrontDoor(server: Server, options: FrontDoorOptions, onStream: StreamHandler): FrontDoor {
  const nodeListeners = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');
  /**
   * Gives a connection to Node's own listener, with `bytes` it should read first. Paused, so the
   * bytes put back wait for that listener; resumed after, so they reach its parser (which then
   * reads the handle itself) instead of sitting in the stream's buffer.
   */
  const handOver = (socket: Socket, bytes?: Buffer): void => {
    socket.pause();
    if (bytes !== undefined) socket.unshift(bytes);
    for (const listener of nodeListeners) listener.call(server, socket);
    socket.resume();
  };
  const prefix = Buffer.from(`GET ${options.streamsPath}`, 'latin1');
  const waiting = new Set<Socket>();

  server.on('connection', (socket: Socket) => {
    // Everything below lives in one closure context for the connection's whole life, so whatever
    // it still points to once the head is handled (the head's bytes, the timer) is memory every
    // idle stream would carry: release() lets go of all of it.
    let scanner: HeadScanner | undefined = new HeadScanner();
    /** Whether the first bytes are known to be a GET of the streams path. */
    let isStreamGet = false;
    let timer: NodeJS.Timeout | undefined = setTimeout(() => socket.destroy(), options.headTimeoutMs);
    waiting.add(socket);
    const release = (): void => {
      waiting.delete(socket);
      clearTimeout(timer);
      timer = undefined;
      scanner = undefined;
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', release);
    };
    const toNode = (bytes: Buffer): void => {
      release();
      handOver(socket, bytes);
    };
    const onError = (): void => {
      release();
      socket.destroy();
    };
    // The client closed its side before its head was complete: node:http answers such a head with
    // a 400 at once (and simply closes an empty connection), rather than waiting for the head timeout.
    const onEnd = (): void => {
      const partial = (scanner?.size ?? 0) > 0;
      release();
      if (partial) hangUp(socket, BAD_REQUEST);
      else socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      const reader = scanner;
      if (reader === undefined) return;
      const scanned = reader.push(chunk);
      if (!isStreamGet) {
        // Decide on the first bytes: anything that is not a GET of the streams path goes to Node at
        // once. Joined only while undecided, so at most the prefix's length plus one chunk.
        const bytes = reader.bytes();
        const known = Math.min(bytes.length, prefix.length);
        if (bytes.compare(prefix, 0, known, 0, known) !== 0) return toNode(bytes);
        if (bytes.length > prefix.length) {
          if (!' /?'.includes(String.fromCharCode(bytes[prefix.length] ?? 0))) return toNode(bytes);
          isStreamGet = true;
        }
      }
      if (scanned.kind === 'more') {
        // Node counts header bytes its own way (and may still take a head a little past the
        // limit): a head that grows past it is Node's to accept or answer with 431.
        if (reader.size > options.maxHeadBytes) toNode(reader.bytes());
        return;
      }
      // A bare CR or LF, bytes after the head (a pipelined request), or a head past the limit: Node's.
      if (scanned.kind === 'unusual' || scanned.end + HEAD_END.length !== scanned.bytes.length || scanned.end > options.maxHeadBytes)
        return toNode(scanned.bytes);
      // A whole head is longer than the prefix, so by now it is known to be a stream GET.
      const head = parseGetHead(scanned.bytes.toString('latin1', 0, scanned.end), socket);
      if (head === undefined) return toNode(scanned.bytes);
      release();
      serveStream(socket, head, onStream, handOver);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', release);
  });

  return {
    closeWaiting: () => {
      for (const socket of waiting) socket.destroy();
      waiting.clear();
    },
  };
}

/**
 * What a stream keeps of its connection for its whole life. Apart from the connection's closure
 * above on purpose: closures made in there would keep its whole context alive (the head reader's
 * four closures, and the parsed head with its header strings), about 1 KB on every idle stream.
 */
function serveStream(socket: Socket, head: RequestHead, onStream: StreamHandler, handOver: (socket: Socket) => void): void {
  // While a stream runs, whatever else arrives is read and dropped, so a client's FIN is seen
  // at once (these sockets allow half-open, so close it ourselves). A stream that ends cleanly
  // gives the connection to node:http for whatever the client sends next.
  const closeOnEnd = (): void => {
    socket.destroy();
  };
  socket.on('end', closeOnEnd);
  socket.resume();
  onStream(
    head,
    new RawReply(socket, head.httpVersion, () => {
      socket.off('end', closeOnEnd);
      handOver(socket);
    }),
  );
}
