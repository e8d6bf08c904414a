import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Every metric the gateway exports, declared in one place with its help text. Labels are
 * bounded sets (reasons, codes, ingress kinds): never a channel, client or token.
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  return {
    registry,
    connectionsOpen: new Gauge({ name: 'sseg_connections_open', help: 'Streams open now.', registers }),
    connectionsOpened: new Counter({ name: 'sseg_connections_opened_total', help: 'Streams opened.', registers }),
    connectionsClosed: new Counter({
      name: 'sseg_connections_closed_total',
      help: 'Streams closed, by reason: client (went away), slow (buffer overflowed), shutdown, error, expired (its credential expired).',
      labelNames: ['reason'] as const,
      registers,
    }),
    connectionsRejected: new Counter({
      name: 'sseg_connections_rejected_total',
      help: 'Stream requests refused before opening, by error code.',
      labelNames: ['code'] as const,
      registers,
    }),
    eventsPublished: new Counter({
      name: 'sseg_events_published_total',
      help: 'Events accepted into the log, by ingress.',
      labelNames: ['ingress'] as const,
      registers,
    }),
    publishRejected: new Counter({
      name: 'sseg_publish_rejected_total',
      help: 'Publish requests refused, by error code.',
      labelNames: ['code'] as const,
      registers,
    }),
    authDecisions: new Counter({
      name: 'sseg_auth_decisions_total',
      help: 'Stream opens decided by auth, by mode (public, ticket, jwt, forward, none: no credential) and outcome (allowed, unauthorized, forbidden, unavailable, timeout).',
      labelNames: ['mode', 'outcome'] as const,
      registers,
    }),
    authForwardCache: new Counter({
      name: 'sseg_auth_forward_cache_total',
      help: 'Forward-auth decision cache lookups (hit, miss) and evictions of the oldest decision when auth.forward.cacheSize is reached (evicted).',
      labelNames: ['result'] as const,
      registers,
    }),
    authTickets: new Counter({
      name: 'sseg_auth_tickets_total',
      help: 'Tickets issued, redeemed, refused (unknown, used or expired), and issue requests refused because auth.ticket.maxOutstanding was reached (full).',
      labelNames: ['result'] as const,
      registers,
    }),
    eventsDelivered: new Counter({
      name: 'sseg_events_delivered_total',
      help: 'Live events handed to client streams by fan-out (one per event per subscriber, counted once per flush, not per write); replayed events are in sseg_events_replayed_total.',
      registers,
    }),
    bytesWritten: new Counter({
      name: 'sseg_stream_bytes_total',
      help: 'Bytes of live events handed to client streams by fan-out (event bytes times subscribers); replay, gap and heartbeat bytes are not counted.',
      registers,
    }),
    fanoutBatch: new Histogram({
      name: 'sseg_fanout_batch_events',
      help: 'Events per fan-out write: how many events of one channel left together in one flush (streams.coalesce).',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    }),
    eventsReplayed: new Counter({ name: 'sseg_events_replayed_total', help: 'Events sent from history to resuming clients.', registers }),
    gaps: new Counter({ name: 'sseg_gaps_total', help: 'Gap events sent, by reason.', labelNames: ['reason'] as const, registers }),
    bufferedBytes: new Gauge({
      name: 'sseg_stream_buffered_bytes',
      help: 'Event bytes waiting in client buffers for sockets to drain (each stream bounded by streams.clientBufferBytes).',
      registers,
    }),
    slowClientDisconnects: new Counter({
      name: 'sseg_slow_client_disconnects_total',
      help: 'Streams closed because their buffer overflowed (slowClient: disconnect).',
      registers,
    }),
    slowClientDrops: new Counter({
      name: 'sseg_slow_client_dropped_events_total',
      help: 'Events discarded from overflowing client buffers (slowClient: drop-oldest).',
      registers,
    }),
    publishToWrite: new Histogram({
      name: 'sseg_publish_to_write_seconds',
      help: 'From an event entering the log to its last subscriber socket write in this process.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    proxyRequests: new Counter({
      name: 'sseg_proxy_requests_total',
      help: 'Requests and websocket upgrades proxied to the app, by kind (http, websocket) and outcome: an HTTP status class of the app (2xx…5xx, 101), or the error code the gateway answered with.',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    }),
    upstreamSseConnected: new Gauge({
      name: 'sseg_upstream_sse_connected',
      help: 'Whether the connection to each ingress.upstreamSse entry is open (1) or being re-established (0); labelled by its index in the list, never its URL.',
      labelNames: ['upstream'] as const,
      registers,
    }),
    upstreamSseReconnects: new Counter({
      name: 'sseg_upstream_sse_reconnects_total',
      help: 'Times a connection to an ingress.upstreamSse entry was lost or refused and is being retried, by index in the list.',
      labelNames: ['upstream'] as const,
      registers,
    }),
    upstreamSseSkipped: new Counter({
      name: 'sseg_upstream_sse_skipped_events_total',
      help: 'Events from an ingress.upstreamSse entry not appended because their event name is invalid or reserved, by index in the list.',
      labelNames: ['upstream'] as const,
      registers,
    }),
    redisConnected: new Gauge({
      name: 'sseg_redis_connected',
      help: 'Redis connections of this process, by role (command, subscriber, pubsub-ingress, streams-ingress): 1 ready, 0 lost.',
      labelNames: ['role'] as const,
      registers,
    }),
    redisCommandsFailed: new Counter({
      name: 'sseg_redis_commands_failed_total',
      help: 'Redis commands that failed or timed out, by operation (append, replay, ingest, lease, check, sweep).',
      labelNames: ['op'] as const,
      registers,
    }),
    redisIngestLag: new Histogram({
      name: 'sseg_redis_ingest_lag_seconds',
      help: 'Redis clock at append (fanout) or at the app XADD (redis-streams) to this process taking the event in, by source.',
      labelNames: ['source'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    redisReplayReads: new Counter({
      name: 'sseg_redis_replay_reads_total',
      help: 'Replay reads from the shared Redis log (one per resuming stream).',
      registers,
    }),
    redisPubsubDropped: new Counter({
      name: 'sseg_redis_pubsub_dropped_total',
      help: 'Redis Pub/Sub ingress messages lost on the way to the log, by reason: queue-full (appends fell behind and the bridge queue was at its bound), append-failed (the append was refused or unanswered).',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
