import { createServer, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Access } from './auth/access.ts';
import { Admission } from './auth/admission.ts';
import { Cors } from './auth/cors.ts';
import { ExpiryClock } from './auth/expiry.ts';
import { HmacVerifier } from './auth/hmac.ts';
import { redactTarget } from './auth/redact.ts';
import { RedisTicketStore } from './auth/ticket-redis.ts';
import type { Config } from './config/schema.ts';
import { Demo, DEMO_PAGE_PATH, DEMO_PUBLISH_PATH, DEMO_SCRIPT_PATH, DEMO_STYLE_PATH } from './demo/demo.ts';
import { GatewayError, isGatewayError } from './errors.ts';
import { MemoryHistory } from './history/memory.ts';
import { RedisHistory } from './history/redis/log.ts';
import { RedisPubsubIngress } from './ingress/redis-pubsub.ts';
import { RedisStreamsIngress } from './ingress/redis-streams.ts';
import type { History } from './history/history.ts';
import { readBody } from './http/body.ts';
import { installFrontDoor } from './http/front-door.ts';
import { BAD_REQUEST, HEADERS_TOO_LARGE } from './http/raw-errors.ts';
import { sendError, sendJson, type Reply } from './http/reply.ts';
import type { RequestHead } from './http/request-head.ts';
import { Router, notFound, parseTarget } from './http/router.ts';
import { Hub } from './hub/hub.ts';
import { UpstreamSseIngress } from './ingress/upstream-sse.ts';
import { WebhookIngress } from './ingress/webhook.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { AppProxy, writeSocketError } from './proxy/app.ts';
import { Heartbeat } from './stream/heartbeat.ts';
import { parseSubscription } from './stream/request.ts';
import type { EventStream } from './stream/stream.ts';
import { Streams } from './stream/streams.ts';

export interface GatewayOptions {
  logger?: Logger;
  /** Log the `listening` line (default). A cluster worker leaves it to the primary, which logs it once for all. */
  announce?: boolean;
  /** Run the upstream SSE ingress here (default). In a cluster only one worker does, or each would append every event once. */
  upstreamSse?: boolean;
  /** What GET /metrics answers (default: this process's registry). A cluster worker asks the primary for every worker's, summed. */
  metricsText?: () => Promise<string>;
}

export interface Gateway {
  /** Starts listening; resolves with the base URL once connections are accepted. */
  listen(): Promise<URL>;
  /** Readiness off, streams told to come back later and closed, then the server closed. Idempotent. */
  close(): Promise<void>;
  readonly metrics: Metrics;
  readonly history: History;
  readonly logger: Logger;
}

const TICKET_BODY_BYTES = 16 * 1024;


/** Wires the rooms together from one validated Config. */
export function createGateway(config: Readonly<Config>, options: GatewayOptions = {}): Gateway {
  const logger = options.logger ?? createLogger(config.log.level);
  const metrics = createMetrics();
  const history: History = config.history.backend === 'redis'
    ? new RedisHistory({ redis: config.redis, maxEvents: config.history.maxEvents, maxAgeMs: config.history.maxAge, maxChannels: config.history.maxChannels, logger, metrics })
    : new MemoryHistory({
    maxEvents: config.history.maxEvents,
    maxAgeMs: config.history.maxAge,
    maxChannels: config.history.maxChannels,
  });
  const hub = new Hub((delivery, subscribers) => {
    // Counted once per delivery, after the fan-out loop, rather than once per client inside it.
    metrics.eventsDelivered.inc(subscribers * delivery.events.length);
    metrics.bytesWritten.inc(subscribers * delivery.frames.length);
    metrics.fanoutBatch.observe(delivery.events.length);
    const now = process.hrtime.bigint();
    for (const event of delivery.events) metrics.publishToWrite.observe(Number(now - event.acceptedAt) / 1e9);
  }, config.streams.coalesce);
  const heartbeat = new Heartbeat(config.streams.heartbeat);
  const streams = new Streams(
    { hub, history, heartbeat, metrics },
    { retryMs: config.streams.retry, bufferBytes: config.streams.clientBufferBytes, dropOldest: config.streams.slowClient === 'drop-oldest' },
  );
  const webhook = new WebhookIngress(config.publish);
  // Access control (src/auth/): decided once per stream open, so the event fan-out never sees it.
  const access = new Access(config.auth, {
    // With a shared log, tickets are shared too: issued on one instance, redeemed once on any.
    ...(config.auth.ticket.enabled && config.history.backend === 'redis'
      ? { ticketStore: new RedisTicketStore(config.redis, config.auth.ticket.maxOutstanding, logger.child({ room: 'auth' })) }
      : {}),
    report: {
      decision: (mode, outcome) => metrics.authDecisions.inc({ mode, outcome }),
      forwardCache: (result) => metrics.authForwardCache.inc({ result }),
      ticket: (result) => metrics.authTickets.inc({ result }),
    },
  });
  const cors = new Cors(config.auth.cors.origins);
  const hmac = new HmacVerifier(config.publish.hmacSecrets, config.publish.hmacTolerance);
  // Refusals tell clients to come back after the reconnect delay, in whole seconds (at least one).
  const retryAfterSeconds = Math.max(1, Math.ceil(config.streams.retry / 1000));
  const admission = new Admission(config.streams.maxConnectionsPerIp, retryAfterSeconds);
  const expiry = new ExpiryClock();
  // The app behind the gateway (src/proxy/), and its own SSE endpoints collapsed into channels.
  const appProxy = config.upstream.url === '' ? undefined : new AppProxy(config.upstream, { metrics, logger: logger.child({ room: 'proxy' }) });
  const upstreamSse = new UpstreamSseIngress(config.ingress.upstreamSse, { history, metrics, logger }, {
    connectTimeout: config.upstream.connectTimeout,
    headersTimeout: config.upstream.responseTimeout,
  });
  // `auto`: / belongs to the app once there is one, so the demo steps aside; and its publish path takes no
  // credential, so a gateway that enforces access control does not open one unless told to.
  const demoEnabled = config.demo.enabled === 'auto' ? config.upstream.url === '' && !access.enforced : config.demo.enabled;
  let draining = false;
  /** Stream requests past the connection-limit check and waiting for an access decision. */
  let authorizing = 0;

  history.onEvent((event) => hub.publish(event));

  // A shared log whose live feed lost continuity: streams end and their clients resume exactly by id.
  history.onReset?.(() => streams.resumeAll());
  const redisIngresses = history instanceof RedisHistory ? createRedisIngresses(config, history, logger, metrics) : [];
  const startLog = async (): Promise<void> => {
    await history.start?.(config.redis.commandTimeout * 2);
    await Promise.all(redisIngresses.map((ingress) => ingress.start()));
    if (options.upstreamSse !== false) upstreamSse.start();
  };

  const rejectStream = (error: unknown, url: URL): never => {
    if (isGatewayError(error)) {
      metrics.connectionsRejected.inc({ code: error.code });
      // The target, never the headers; credential-bearing query parameters are redacted.
      logger.debug({ code: error.code, target: redactTarget(url, [config.auth.jwt.queryParam]) }, 'stream refused');
    }
    throw error;
  };

  const refuseWhileDraining = (): void => {
    if (draining) throw new GatewayError('SSEG_SHUTTING_DOWN', 'this gateway is shutting down; reconnect', { 'Retry-After': String(retryAfterSeconds) });
  };

  const openStream = async (request: RequestHead, response: Reply, url: URL): Promise<void> => {
    let subscription;
    let expiresAt: number | undefined;
    try {
      refuseWhileDraining();
      cors.apply(request, response);
      admission.admit(request, response);
      subscription = parseSubscription(url, request.headers, config.streams.path, config.streams.maxChannelsPerStream);
      // Streams being authorized count too: otherwise every request waiting on forward auth or a
      // JWKS fetch would pass this check at once and open beyond the limit together.
      if (streams.size + authorizing >= config.streams.maxConnections) {
        throw new GatewayError('SSEG_TOO_MANY_CONNECTIONS', 'this gateway holds as many streams as it is configured to', { 'Retry-After': String(retryAfterSeconds) });
      }
      if (access.enforced) {
        authorizing += 1;
        try {
          const decision = await access.decide(request.headers, url, subscription.channels);
          subscription = { ...subscription, channels: decision.channels };
          expiresAt = decision.expiresAt;
        } finally {
          // streams.start() below counts the stream synchronously, so the slot passes on without a window.
          authorizing -= 1;
        }
        // The decision may have come after the drain began, which would not end a stream opened now.
        refuseWhileDraining();
      }
    } catch (error) {
      rejectStream(error, url);
    }
    if (!subscription || response.destroyed) return;
    if (expiresAt === undefined) {
      await streams.start(request, response, subscription);
      return;
    }
    // Ended when its credential expires; the client comes back with a fresh one and resumes by Last-Event-ID.
    const expiring: { stream?: EventStream; expire(): void } = {
      expire: () => (expiring.stream === undefined ? response.destroy() : expiring.stream.abort('expired')),
    };
    expiry.add(expiring, expiresAt);
    response.once('close', () => expiry.remove(expiring));
    expiring.stream = await streams.start(request, response, subscription);
  };

  /** Bearer token, or an HMAC signature over the body; resolves with the body once the request may go on. */
  const authorizePublisher = async (request: IncomingMessage, maxBytes: number): Promise<Buffer> => {
    if (!hmac.applies(request.headers)) {
      webhook.authorize(request);
      return readBody(request, maxBytes);
    }
    // The timestamp is checked before the body is read, so a stale replay costs no body read.
    hmac.checkTimestamp(request.headers);
    const body = await readBody(request, maxBytes);
    hmac.verify(request.headers, body);
    return body;
  };

  const publish = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    try {
      if (draining) throw new GatewayError('SSEG_SHUTTING_DOWN', 'this gateway is shutting down; publish to another instance', { 'Retry-After': '1' });
      cors.apply(request, response);
      const { events, batch } = webhook.parse(await authorizePublisher(request, config.publish.maxBodyBytes));
      const logged = await history.append(events);
      metrics.eventsPublished.inc({ ingress: 'webhook' }, logged.length);
      sendJson(response, 200, batch ? { ids: logged.map((event) => event.id) } : { id: logged[0]?.id });
    } catch (error) {
      metrics.publishRejected.inc({ code: isGatewayError(error) ? error.code : 'SSEG_INTERNAL' });
      throw error;
    }
  };


  const router = new Router(appProxy?.web ?? notFound, (error, request) => logger.error({ err: error, method: request.method, path: request.url?.split('?')[0] }, 'request failed'));
  router.add(config.streams.path, ['GET', 'OPTIONS'], (request, response, url) => (request.method === 'OPTIONS' ? cors.preflight(request, response, 'GET') : openStream(request, response, url)), {
    prefix: true,
  });
  router.add(config.publish.path, ['POST', 'OPTIONS'], (request, response) => (request.method === 'OPTIONS' ? cors.preflight(request, response, 'POST') : publish(request, response)));
  const tickets = access.tickets;
  if (tickets !== undefined) {
    router.add(config.auth.ticket.path, ['POST'], async (request, response) => {
      const body = await authorizePublisher(request, TICKET_BODY_BYTES);
      sendJson(response, 200, await tickets.issue(webhook.parseJson(body)));
    });
  }
  if (demoEnabled) {
    const demo = new Demo({ streamsPath: config.streams.path, publishRate: config.demo.publishRate }, { history, metrics });
    router.add(DEMO_PAGE_PATH, ['GET', 'HEAD'], demo.servePage);
    router.add(DEMO_SCRIPT_PATH, ['GET', 'HEAD'], demo.serveScript);
    router.add(DEMO_STYLE_PATH, ['GET', 'HEAD'], demo.serveStyle);
    router.add(DEMO_PUBLISH_PATH, ['POST'], demo.publish);
  }
  router.add('/healthz', ['GET'], (_request, response) => sendJson(response, 200, { status: 'ok' }));
  router.add('/readyz', ['GET'], (_request, response) =>
    draining
      ? sendJson(response, 503, { status: 'draining' })
      : history.isReady?.() === false
        ? sendJson(response, 503, { status: 'unavailable', reason: 'the shared event log (Redis) is unreachable' })
        : sendJson(response, 200, { status: 'ready' }),
  );
  if (config.metrics.enabled) {
    const metricsText = options.metricsText ?? (() => metrics.registry.metrics());
    router.add(config.metrics.path, ['GET'], async (_request, response) => {
      const text = await metricsText();
      response.writeHead(200, { 'Content-Type': metrics.registry.contentType });
      response.end(text);
    });
  }

  // keepAlive probes find peers that vanished without a FIN; noDelay sends each event at once.
  const server: Server = createServer({ keepAlive: true, keepAliveInitialDelay: 30_000, noDelay: true }, router.handle);
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    // Malformed requests and oversized headers: answer plainly if the socket still can, never crash.
    if (socket.writable && !socket.writableEnded) {
      socket.end(error.code === 'HPE_HEADER_OVERFLOW' ? HEADERS_TOO_LARGE : BAD_REQUEST);
    } else {
      socket.destroy();
    }
  });

  // Stream requests are read off the socket before node:http sees them (src/http/front-door.ts).
  const frontDoor = installFrontDoor(
    server,
    { streamsPath: config.streams.path, maxHeadBytes: maxHeaderSize, headTimeoutMs: server.headersTimeout },
    (head, reply) => {
      const url = parseTarget(head.url);
      if (url === undefined) {
        sendError(reply, new GatewayError('SSEG_BAD_QUERY', 'the request URL cannot be parsed'));
        return;
      }
      openStream(head, reply, url).catch((error: unknown) => {
        if (!isGatewayError(error)) logger.error({ err: error, path: url.pathname }, 'stream failed');
        sendError(reply, error);
      });
    },
  );

  if (appProxy !== undefined) {
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = parseTarget(request.url)?.pathname;
      if (path === undefined) {
        writeSocketError(socket, new GatewayError('SSEG_BAD_QUERY', 'the request URL cannot be parsed'));
        return;
      }
      // The gateway's own paths are never the app's, whatever the headers ask for.
      if (router.owns(path)) writeSocketError(socket, new GatewayError('SSEG_NOT_FOUND', `no websocket is served at ${path.slice(0, 100)}`));
      else appProxy.upgrade(request, socket, head);
    });
  }

  let closing: Promise<void> | undefined;

  return {
    metrics,
    history,
    logger,
    listen: () =>
      new Promise<URL>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: config.server.port, host: config.server.host, backlog: config.server.backlog }, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          const url = new URL(`http://${host}:${address.port}`);
          // The listening line is the CLI's "ready" contract, so it waits for the log and the
          // ingresses: an app that starts publishing on seeing it must find them running.
          startLog().then(() => {
            if (options.announce !== false) logListening(logger, config, url);
            resolve(url);
          }, reject);
        });
      }),
    close: () => {
      closing ??= (async () => {
        draining = true;
        logger.info({ streams: streams.size }, 'shutting down');
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        frontDoor.closeWaiting();
        await streams.shutdown(config.server.shutdownTimeout);
        server.closeAllConnections();
        appProxy?.close();
        await serverClosed;
        heartbeat.stop();
        expiry.stop();
        await access.close();
        await upstreamSse.stop();
        await Promise.all(redisIngresses.map((ingress) => ingress.close()));
        await history.close();
        logger.info('stopped');
      })();
      return closing;
    },
  };
}

/** The one line that says the gateway is ready and where (the CLI's contract with tooling). */
export function logListening(logger: Logger, config: Readonly<Config>, url: URL, extra: Record<string, unknown> = {}): void {
  logger.info({ address: url.origin, streams: config.streams.path, publish: config.publish.path, node: process.version, ...extra }, 'listening');
}

/** The Redis ingresses the config asks for; they share the log's command connection. */
function createRedisIngresses(config: Readonly<Config>, history: RedisHistory, logger: Logger, metrics: Metrics): Array<RedisPubsubIngress | RedisStreamsIngress> {
  const ingresses: Array<RedisPubsubIngress | RedisStreamsIngress> = [];
  const { redisPubsub, redisStreams } = config.ingress;
  if (redisPubsub.patterns.length > 0) {
    ingresses.push(new RedisPubsubIngress({ redis: config.redis, patterns: redisPubsub.patterns, stripPrefix: redisPubsub.stripPrefix, leaseTtlMs: config.redis.leaseTtl, history, logger, metrics }));
  }
  if (redisStreams.keys.length > 0) {
    ingresses.push(new RedisStreamsIngress({ ...redisStreams, scanIntervalMs: redisStreams.scanInterval, redis: config.redis, history, logger, metrics }));
  }
  return ingresses;
}
