import type { Duplex } from 'node:stream';

/**
 * How long a connection the gateway refused may stay open once its answer is written. A client
 * that reads the answer and closes is let go at once; one that keeps its end open is cut after
 * this, so it cannot hold a file descriptor with a refusal (the process has 20,000 of them).
 */
export const HANG_UP_LINGER_MS = 2_000;

/**
 * Writes the last bytes of a connection and closes it for good. `end()` alone only half-closes:
 * the FIN goes out, but the socket (and its fd) lives on until the client closes its side, which
 * a hostile client never does. Destroying right after the write is no answer either: a client
 * still sending (the rest of a refused body, a pipelined request) would get an RST that can
 * discard the answer before it is read. So: read and drop what still comes, close as soon as the
 * client's FIN arrives, and at the latest after HANG_UP_LINGER_MS.
 */
export function hangUp(socket: Duplex, bytes?: Buffer | string): void {
  if (socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), HANG_UP_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  // The client closed its side: once our last bytes are with the kernel, nothing is left to wait for.
  socket.once('end', () => (socket.writableFinished ? socket.destroy() : socket.once('finish', () => socket.destroy())));
  socket.resume();
  if (socket.writable) socket.end(bytes);
  else socket.destroy();
}
