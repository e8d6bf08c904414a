import { createServer, maxHeaderSize, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.ts';
import { installFrontDoor, type FrontDoor, type StreamHandler } from './front-door.ts';
import { BAD_REQUEST, HEADERS_TOO_LARGE } from './raw-errors.ts';
import { hangUp } from './hang-up.ts';
import { writeSocketError } from './reply.ts';
import { badTarget, type Router } from './router.ts';

export interface HttpServerOptions {
  readonly streamsPath: string;
  readonly router: Router;
  /** Stream heads the front door read off the socket, before node:http sees them. */
  readonly onStream: StreamHandler;
  /** Websocket upgrades for paths that are not the gateway's own (the app proxy); absent: none are served. */
  readonly upgrade?: ((request: IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
}

/**
 * The one listening node:http server: the router for every request node:http parses, the
 * front door (src/http/front-door.ts) for stream heads, plain answers for heads node:http
 * cannot parse, and websocket upgrades handed to the app.
 */
export function createHttpServer(options: HttpServerOptions): { server: Server; frontDoor: FrontDoor } {
  const { router, upgrade } = options;
  // keepAlive probes find peers that vanished without a FIN; noDelay sends each event at once.
  const server: Server = createServer({ keepAlive: true, keepAliveInitialDelay: 30_000, noDelay: true }, router.handle);
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // Malformed requests and oversized headers: answer plainly if the socket still can, never crash.
    if (socket.writable && !socket.writableEnded) hangUp(socket, error.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : BAD_REQUEST);
    else socket.destroy();
  });
  const frontDoor = installFrontDoor(
    server,
    { streamsPath: options.streamsPath, maxHeadBytes: maxHeaderSize, headTimeoutMs: server.headersTimeout },
    options.onStream,
  );
  if (upgrade !== undefined) {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = router.target(request.url)?.pathname;
      // The gateway's own paths are never the app's, whatever the headers ask for.
      if (path === undefined) writeSocketError(socket, badTarget());
      else if (router.owns(path)) writeSocketError(socket, new GatewayError('SSEG_NOT_FOUND', `no websocket is served at ${path.slice(0, 100)}`));
      else upgrade(request, socket, head);
    });
  }
  return { server, frontDoor };
}
