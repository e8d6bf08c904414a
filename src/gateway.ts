import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Access } from './auth/access.ts';
import { Admission } from './auth/admission.ts';
import { Cors } from './auth/cors.ts';
import { ExpiryClock } from './auth/expiry.ts';
import { PublisherAuth, type SignatureMemory } from './auth/publisher.ts';
import { MemorySignatureReplayGuard } from './auth/signature-replay.ts';
import { RedisSignatureReplayGuard } from './auth/signature-replay-redis.ts';
import { RedisTicketStore } from './auth/ticket-redis.ts';
import { issueTickets } from './auth/ticket-route.ts';
import type { Config } from './config/schema.ts';
import { Demo } from './demo/demo.ts';
import type { History } from './history/history.ts';
import { MemoryHistory } from './history/memory.ts';
import { RedisHistory } from './history/redis/log.ts';
import { Health } from './http/health.ts';
import { Router, notFound } from './http/router.ts';
import { createHttpServer } from './http/server.ts';
import { Hub } from './hub/hub.ts';
import type { Ingress } from './ingress/ingress.ts';
import { RedisPubsubIngress } from './ingress/redis-pubsub.ts';
import { RedisStreamsIngress } from './ingress/redis-streams.ts';
import { UpstreamSseIngress } from './ingress/upstream-sse.ts';
import { WebhookIngress } from './ingress/webhook.ts';
import { createLogger, type Logger } from './logger.ts';
import { recordFanout } from './metrics/fanout.ts';
import { serveMetrics } from './metrics/endpoint.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { AppProxy } from './proxy/app.ts';
import { Heartbeat } from './stream/heartbeat.ts';
import { StreamOpener } from './stream/open.ts';
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

/** Wires the rooms together from one validated Config; every decision is made in a room. */
export function createGateway(config: Readonly<Config>, options: GatewayOptions = {}): Gateway {
  const logger = options.logger ?? createLogger(config.log.level);
  const metrics = createMetrics();
  const history = createHistory(config, logger, metrics);
  const health = new Health(() => history.isReady?.() !== false);
  const hub = new Hub(recordFanout(metrics), config.streams.coalesce);
  const heartbeat = new Heartbeat(config.streams.heartbeat);
  const { retry, clientBufferBytes, slowClient } = config.streams;
  const streams = new Streams(
    { hub, history, heartbeat, metrics },
    { retryMs: retry, bufferBytes: clientBufferBytes, dropOldest: slowClient === 'drop-oldest' },
  );
  history.onEvent((event) => hub.publish(event));
  // A shared log whose live feed lost continuity catches open streams up from itself; where it
  // cannot, streams end and their clients resume exactly by id.
  history.followChannels?.(() => hub.channels());
  history.onReset?.(() => streams.resumeAll());

  // Access control (src/auth/): decided once per stream open, so the event fan-out never sees it.
  const access = createAccess(config, history, logger, metrics);
  const cors = new Cors(config.auth.cors.origins);
  const expiry = new ExpiryClock();
  // Refusals tell clients to come back after the reconnect delay, in whole seconds (at least one).
  const retryAfterSeconds = Math.max(1, Math.ceil(retry / 1000));
  const { path, maxChannelsPerStream, maxConnections, maxConnectionsPerIp } = config.streams;
  const admission = new Admission(maxConnectionsPerIp, retryAfterSeconds);
  const openerOptions = { streamsPath: path, maxChannelsPerStream, maxConnections, retryAfterSeconds, secretParams: [config.auth.jwt.queryParam] };
  const opener = new StreamOpener(openerOptions, { streams, access, cors, expiry, admission, metrics, logger, draining: health.isDraining });

  const publishers = new PublisherAuth(config.publish, createSignatureMemory(config, history, logger));
  const webhook = new WebhookIngress(config.publish, { history, publishers, cors, metrics, draining: health.isDraining });
  const ingresses: Ingress[] = [webhook, ...createLogIngresses(config, history, logger, metrics)];
  if (options.upstreamSse !== false && config.ingress.upstreamSse.length > 0) {
    // The app's own SSE endpoints collapsed into channels.
    const timeouts = { connectTimeout: config.upstream.connectTimeout, headersTimeout: config.upstream.responseTimeout };
    ingresses.push(new UpstreamSseIngress(config.ingress.upstreamSse, { history, metrics, logger }, timeouts));
  }
  // The app behind the gateway (src/proxy/): everything that is not the gateway's own.
  const appProxy = config.upstream.url === '' ? undefined : new AppProxy(config.upstream, { metrics, logger: logger.child({ room: 'proxy' }) });

  const router = new Router(appProxy?.web ?? notFound, (error, request) =>
    logger.error({ err: error, method: request.method, path: request.url?.split('?')[0] }, 'request failed'),
  );
  router.add(
    path,
    ['GET', 'OPTIONS'],
    (request, response, url) => (request.method === 'OPTIONS' ? cors.preflight(request, response, 'GET') : opener.open(request, response, url)),
    { prefix: true },
  );
  router.add(config.publish.path, ['POST', 'OPTIONS'], (request, response) =>
    request.method === 'OPTIONS' ? cors.preflight(request, response, 'POST') : webhook.handle(request, response),
  );
  if (access.tickets !== undefined) router.add(config.auth.ticket.path, ['POST'], issueTickets(access.tickets, publishers));
  // `auto`: / belongs to the app once there is one, so the demo steps aside; and its publish path takes no
  // credential, so a gateway that enforces access control does not open one unless told to.
  if (config.demo.enabled === true || (config.demo.enabled === 'auto' && appProxy === undefined && !access.enforced)) {
    new Demo({ streamsPath: path, publishRate: config.demo.publishRate }, { history, metrics }).mount(router);
  }
  router.add('/healthz', ['GET'], health.live).add('/readyz', ['GET'], health.ready);
  if (config.metrics.enabled) {
    router.add(config.metrics.path, ['GET'], serveMetrics(options.metricsText ?? (() => metrics.registry.metrics()), metrics.registry.contentType));
  }
  const { server, frontDoor } = createHttpServer({ streamsPath: path, router, onStream: opener.serve, upgrade: appProxy?.upgrade });

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    health.drain();
    logger.info({ streams: streams.size }, 'shutting down');
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    frontDoor.closeWaiting();
    await streams.shutdown(config.server.shutdownTimeout);
    // Publishes already accepted are answered before their connections are cut.
    await webhook.close();
    server.closeAllConnections();
    appProxy?.close();
    await serverClosed;
    heartbeat.stop();
    expiry.stop();
    await Promise.all([access.close(), publishers.close(), ...ingresses.map((ingress) => ingress.close())]);
    await history.close();
    logger.info('stopped');
  };
  return {
    metrics,
    history,
    logger,
    listen: async () => {
      const url = await listenOn(server, config);
      // The listening line is the CLI's "ready" contract, so it waits for the log and the
      // ingresses: an app that starts publishing on seeing it must find them running.
      await history.start?.(config.redis.commandTimeout * 2);
      await Promise.all(ingresses.map((ingress) => ingress.start()));
      if (options.announce !== false) logListening(logger, config, url);
      return url;
    },
    close: () => (closing ??= close()),
  };
}

/** The one line that says the gateway is ready and where (the CLI's contract with tooling). */
export function logListening(logger: Logger, config: Readonly<Config>, url: URL, extra: Record<string, unknown> = {}): void {
  logger.info({ address: url.origin, streams: config.streams.path, publish: config.publish.path, node: process.version, ...extra }, 'listening');
}

function createHistory(config: Readonly<Config>, logger: Logger, metrics: Metrics): History {
  const { backend, maxEvents, maxAge, maxChannels } = config.history;
  return backend === 'redis'
    ? new RedisHistory({ redis: config.redis, maxEvents, maxAgeMs: maxAge, maxChannels, logger, metrics })
    : new MemoryHistory({ maxEvents, maxAgeMs: maxAge, maxChannels });
}

function createAccess(config: Readonly<Config>, history: History, logger: Logger, metrics: Metrics): Access {
  return new Access(config.auth, {
    // With a shared log, tickets are shared too: issued on one instance, redeemed once on any.
    ...(config.auth.ticket.enabled && history instanceof RedisHistory
      ? { ticketStore: new RedisTicketStore(config.redis, config.auth.ticket.maxOutstanding, logger.child({ room: 'auth' })) }
      : {}),
    report: {
      decision: (mode, outcome) => metrics.authDecisions.inc({ mode, outcome }),
      forwardCache: (result) => metrics.authForwardCache.inc({ result }),
      ticket: (result) => metrics.authTickets.inc({ result }),
    },
  });
}

/** Signatures already used, kept where the log is: a request replayed to another instance is refused there too. */
function createSignatureMemory(config: Readonly<Config>, history: History, logger: Logger): SignatureMemory | undefined {
  const { hmacSecrets, hmacTolerance } = config.publish;
  if (hmacSecrets.length === 0) return undefined;
  if (!(history instanceof RedisHistory)) return new MemorySignatureReplayGuard({ toleranceMs: hmacTolerance });
  // No hash tag: single-key commands, so in Cluster the keys spread over every shard.
  return new RedisSignatureReplayGuard(
    config.redis,
    { toleranceMs: hmacTolerance, keyPrefix: `${config.redis.keyPrefix}sig:` },
    logger.child({ room: 'auth' }),
  );
}

/** The Redis ingresses the config asks for; they need the shared log, and use its command connection. */
function createLogIngresses(config: Readonly<Config>, history: History, logger: Logger, metrics: Metrics): Ingress[] {
  if (!(history instanceof RedisHistory)) return [];
  const ingresses: Ingress[] = [];
  const { redisPubsub, redisStreams } = config.ingress;
  if (redisPubsub.patterns.length > 0) {
    ingresses.push(
      new RedisPubsubIngress({
        redis: config.redis,
        patterns: redisPubsub.patterns,
        stripPrefix: redisPubsub.stripPrefix,
        leaseTtlMs: config.redis.leaseTtl,
        history,
        logger,
        metrics,
      }),
    );
  }
  if (redisStreams.keys.length > 0) {
    ingresses.push(new RedisStreamsIngress({ ...redisStreams, scanIntervalMs: redisStreams.scanInterval, redis: config.redis, history, logger, metrics }));
  }
  return ingresses;
}

function listenOn(server: Server, config: Readonly<Config>): Promise<URL> {
  return new Promise<URL>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: config.server.port, host: config.server.host, backlog: config.server.backlog }, () => {
      server.off('error', reject);
      const address = server.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      resolve(new URL(`http://${host}:${address.port}`));
    });
  });
}
