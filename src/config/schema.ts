import { z } from 'zod';
import { isValidPattern } from '../auth/channels.ts';
import { readPublicKey } from '../auth/jwt-key.ts';
import { isValidChannel } from '../sse/names.ts';
import { placeholderKind, type SecretKind } from './secrets.ts';
import { parseDuration, parseSize } from './units.ts';

/**
 * The one source of truth for configuration: every key, its type, default and description is
 * declared here once. The TypeScript `Config` type, `check-config`, docs/config.md and the
 * example YAML all come from (or are tested against) this schema. Unknown keys are errors:
 * a typo in an operator's file must never silently fall back to a default.
 */

type Meta = { description: string; secret?: SecretKind; unit?: 'duration' | 'size' };

/**
 * Node's timers hold 32-bit signed milliseconds; a longer wait is silently cut to 1 ms (so a
 * `heartbeat: 30d` would beat every millisecond). 24 days stays below it with room for the
 * margins the code adds (shutdownTimeout + 5s).
 */
const MAX_TIMER_MS = 24 * 86_400_000;

interface DurationRules {
  /** 0 is allowed, and the description says what it means. Elsewhere 0 is refused: it would not mean "off". */
  zero?: true;
  /** Least value above 0, with the reason. */
  min?: { ms: number; text: string; why: string };
  /** Largest value; MAX_TIMER_MS unless the key never reaches a timer. */
  max?: number;
}

function duration(defaultValue: string, description: string, rules: DurationRules = {}) {
  const max = rules.max ?? MAX_TIMER_MS;
  return z
    .union([z.string(), z.number()], { error: 'expected a duration such as 500ms, 15s or 2h30m' })
    .transform((value, ctx) => {
      const reading = parseDuration(value);
      if (!reading.ok) {
        ctx.addIssue({ code: 'custom', message: reading.problem });
        return z.NEVER;
      }
      const ms = reading.value;
      if (ms === 0 && rules.zero !== true) {
        ctx.addIssue({ code: 'custom', message: 'must be more than 0 (0 does not turn this off)' });
      } else if (ms > 0 && rules.min !== undefined && ms < rules.min.ms) {
        ctx.addIssue({ code: 'custom', message: `must be at least ${rules.min.text}: ${rules.min.why}` });
      } else if (ms > max) {
        ctx.addIssue({ code: 'custom', message: 'must be at most 24d (the longest a Node.js timer waits)' });
      }
      return ms;
    })
    .prefault(defaultValue)
    .meta({ description, unit: 'duration' } satisfies Meta);
}

function size(defaultValue: string, description: string) {
  return z
    .union([z.string(), z.number()], { error: 'expected a size such as 4096, 64kb or 1mb' })
    .transform((value, ctx) => {
      const reading = parseSize(value);
      if (!reading.ok) {
        ctx.addIssue({ code: 'custom', message: reading.problem });
        return z.NEVER;
      }
      if (reading.value === 0) ctx.addIssue({ code: 'custom', message: 'must be more than 0 bytes' });
      return reading.value;
    })
    .prefault(defaultValue)
    .meta({ description, unit: 'size' } satisfies Meta);
}

function count(defaultValue: number, min: number, description: string) {
  // "0 is not off": where 0 means "no limit" (min 0), the description says so.
  const tooSmall = min === 1 ? 'must be at least 1 (0 does not turn this off)' : `must be at least ${min}`;
  return z
    .number()
    .int('expected a whole number')
    .min(min, tooSmall)
    .default(defaultValue)
    .meta({ description } satisfies Meta);
}

/**
 * Refuses what only looks like a secret: an example's placeholder, or check-config's mask fed
 * back in. Checked first, and the only problem then reported: "too short" would be beside the point.
 */
function notPlaceholder(value: string, ctx: z.core.$RefinementCtx<string>, howToSet: string): void {
  const kind = placeholderKind(value);
  if (kind === 'example') ctx.addIssue({ code: 'custom', message: `is a placeholder from an example, not a secret: ${howToSet}`, continue: false });
  if (kind === 'mask')
    ctx.addIssue({ code: 'custom', message: `is the mask check-config prints in place of a secret, not the secret: ${howToSet}`, continue: false });
}

const SET_PUBLISH_TOKEN =
  'set a real one from the environment, as SSEG_PUBLISH__TOKENS="$(openssl rand -hex 24)" or as "${PUBLISH_TOKEN}" in this file with PUBLISH_TOKEN set; or leave publish.tokens empty to have one generated at each start';
const SET_HMAC_SECRET = 'set a real one from the environment, as SSEG_PUBLISH__HMAC_SECRETS="$(openssl rand -hex 32)" or as "${HMAC_SECRET}" in this file';
const SET_JWT_SECRET = 'set your app\'s signing key from the environment, as SSEG_AUTH__JWT__SECRET=… or as "${JWT_SECRET}" in this file';

const urlPath = (defaultValue: string, description: string) =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~-]$/, 'expected an absolute path without a trailing slash, such as /events')
    .default(defaultValue)
    .meta({ description } satisfies Meta);

const server = z
  .strictObject({
    host: z.string().min(1).default('0.0.0.0').meta({ description: 'Interface to listen on.' }),
    port: z
      .number()
      .int('expected a port from 0 to 65535')
      .min(0, 'expected a port from 0 to 65535')
      .max(65_535, 'expected a port from 0 to 65535')
      .default(8080)
      .meta({ description: 'TCP port to listen on (0 picks a free one).' }),
    backlog: z.number().int('expected a whole number').min(1, 'must be at least 1').default(4096).meta({
      description:
        "Accept queue length. A reconnect storm opens thousands of connections at once; Node's default of 511 drops SYNs beyond it, costing each dropped client a retransmit of a second or more. The kernel caps it at net.core.somaxconn.",
    }),
    shutdownTimeout: duration('10s', 'On SIGTERM/SIGINT, how long to wait for streams to close before exiting anyway.'),
  })
  .prefault({});

const streams = z
  .strictObject({
    path: urlPath('/events', 'Where browsers subscribe: GET <path>/<channel> or GET <path>?channel=a&channel=b.'),
    heartbeat: duration('15s', 'A comment line is sent on a stream idle this long, so proxies keep it open.'),
    retry: duration('3s', 'The `retry:` hint sent when a stream opens: how long EventSource waits before reconnecting.'),
    coalesce: duration(
      '10ms',
      'Least time between two fan-out flushes. Each flush costs one socket write per subscriber whatever it carries, so under a sustained event rate the events of this window leave together in one write; an event on a quiet gateway still leaves at once. Adds at most this much latency; 0 flushes every event-loop turn.',
      { zero: true },
    ),
    maxConnections: count(10_000, 1, 'Open streams one process (each worker, with streams.workers) accepts; beyond it, 503 with Retry-After.'),
    workers: z.number().int('expected a whole number').min(1, 'must be at least 1').max(256, 'must be at most 256').default(1).meta({
      description:
        'Processes serving streams on the one port (node:cluster), to use several cores. Above 1 needs history.backend: redis: the workers are instances sharing the log through Redis, as separate hosts would. Per-process limits (maxConnections, maxConnectionsPerIp) apply to each worker.',
    }),
    maxChannelsPerStream: count(64, 1, 'Channels one stream may subscribe to at once.'),
    maxConnectionsPerIp: count(
      0,
      0,
      "Streams (and stream requests being authorized) one client address may hold at once; beyond it, 429 with Retry-After. 0: no limit. Behind a reverse proxy every client has the proxy's address, so leave it 0 there.",
    ),
    clientBufferBytes: size('256kb', 'Bytes of events waiting for one slow client before slowClient policy applies.'),
    slowClient: z.enum(['disconnect', 'drop-oldest']).default('disconnect').meta({
      description:
        'When a client buffer overflows: `disconnect` closes the stream (the client resumes with Last-Event-ID); `drop-oldest` discards its oldest waiting events and sends a `gap` event.',
    }),
  })
  .prefault({});

const history = z
  .strictObject({
    backend: z
      .enum(['memory', 'redis'])
      .default('memory')
      .meta({ description: 'Where event history lives: `memory` (one process, no setup) or `redis` (shared by every instance; see docs/redis.md).' }),
    maxEvents: count(1_000, 1, 'Events kept per channel for replay.'),
    // Compared with event times, never a timer (sweeps run at least once a minute), so longer than 24d is fine.
    maxAge: duration('1h', 'Events older than this are dropped from history.', { max: Number.MAX_SAFE_INTEGER }),
    maxChannels: count(
      100_000,
      1,
      'Channels whose events are kept (memory windows, or Redis streams); beyond this the least recently published channel is dropped with its events, and resuming on it yields a `trimmed` gap. On Redis it also bounds the marks kept for channels with no events left (docs/redis.md).',
    ),
  })
  .prefault({});

const publish = z
  .strictObject({
    path: urlPath('/publish', 'Where apps POST events.'),
    tokens: z
      .array(
        z
          .string()
          .superRefine((value, ctx) => notPlaceholder(value, ctx, SET_PUBLISH_TOKEN))
          .min(16, 'publish tokens must be at least 16 characters'),
      )
      .default([])
      .meta({ description: 'Bearer tokens allowed to publish. Empty: one is generated at start and printed.', secret: true }),
    maxBodyBytes: size('1mb', 'Largest publish request body; larger is refused with 413.'),
    maxBatchEvents: count(1_000, 1, 'Events one publish request may carry.'),
    hmacSecrets: z
      .array(
        z
          .string()
          .superRefine((value, ctx) => notPlaceholder(value, ctx, SET_HMAC_SECRET))
          .min(32, 'HMAC secrets must be at least 32 characters'),
      )
      .default([])
      .meta({
        description:
          'Secrets for HMAC-signed publishing: X-SSEG-Timestamp (unix seconds) and X-SSEG-Signature: sha256=<hex of HMAC-SHA256 over "<timestamp>.<body>">. Several allow rotation. Empty: off.',
        secret: true,
      }),
    hmacTolerance: duration(
      '5m',
      'How far X-SSEG-Timestamp may be from the gateway clock; older (replayed) or future signatures are refused. At least 1s: the timestamp counts whole seconds.',
      {
        min: { ms: 1_000, text: '1s', why: 'X-SSEG-Timestamp counts whole seconds, so less would refuse most signatures' },
      },
    ),
  })
  .prefault({});

const redisPubsub = z
  .strictObject({
    patterns: z.array(z.string().min(1)).default([]).meta({
      description:
        'Redis Pub/Sub channel patterns (PSUBSCRIBE syntax) apps already PUBLISH on; each message becomes an event. Empty: off. Needs history.backend: redis.',
    }),
    stripPrefix: z
      .string()
      .default('')
      .meta({ description: 'Removed from the start of the Redis channel name to give the SSE channel (otherwise the names are the same).' }),
  })
  .prefault({});

const redisStreams = z
  .strictObject({
    keys: z.array(z.string().min(1)).default([]).meta({
      description:
        'Redis Stream keys, or patterns (with * ? [), apps XADD to; each entry becomes an event on the channel named like the key. Empty: off. Needs history.backend: redis.',
    }),
    stripPrefix: z.string().default('').meta({ description: 'Removed from the start of the stream key to give the SSE channel.' }),
    eventField: z.string().min(1).default('event').meta({ description: 'Entry field holding the event name (optional in each entry).' }),
    dataField: z.string().min(1).default('data').meta({ description: 'Entry field holding the event data (entries without it are skipped).' }),
    scanInterval: duration('5s', 'How often key patterns are re-scanned for new streams.'),
  })
  .prefault({});

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

const upstreamSse = z
  .array(
    z.strictObject({
      url: z
        .string()
        .refine(isHttpUrl, 'expected an http:// or https:// URL of an SSE endpoint')
        .meta({ description: 'The SSE endpoint; credentials and query in it are masked in output.', secret: 'url' } satisfies Meta),
      channel: z.string().refine(isValidChannel, 'expected a channel name: 1-200 characters of A-Z a-z 0-9 _ . : @ / -'),
      headers: z
        .record(z.string(), z.string())
        .default({})
        .meta({ description: 'Request headers, such as Authorization; their values are masked in output.', secret: true } satisfies Meta),
      idleTimeout: duration('5m', 'Silence after which the connection is presumed dead and reopened (with Last-Event-ID).'),
    }),
  )
  .default([])
  .meta({
    description:
      'App SSE endpoints to collapse: for each {url, channel, headers?, idleTimeout?} the gateway holds ONE connection (reconnecting with Last-Event-ID, honouring `retry:`) and appends every event it sends to `channel`, whatever the number of clients. In output, header values and the credentials and query of each url are masked.',
  });

/** Ways events come in besides POST /publish; each key is one ingress (see src/ingress/). */
const ingress = z.strictObject({ redisPubsub, redisStreams, upstreamSse }).prefault({});

const redisAddress = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port');

const redis = z
  .strictObject({
    mode: z.enum(['standalone', 'sentinel', 'cluster']).default('standalone').meta({
      description:
        '`standalone` connects to redis.url; `sentinel` asks redis.sentinels for the master named redis.sentinelName; `cluster` starts from redis.nodes.',
    }),
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'expected redis://[user:password@]host:port[/db] or rediss://…')
      .default('redis://127.0.0.1:6379')
      .meta({ description: 'Standalone server; in sentinel and cluster modes only its credentials, TLS and db are used.', secret: 'url' } satisfies Meta),
    keyPrefix: z.string().default('sseg:').meta({ description: 'Prefix of every key and channel the gateway owns, so several gateways can share one Redis.' }),
    sentinels: z.array(redisAddress).default([]).meta({ description: 'Sentinel addresses (host:port), for mode: sentinel.' }),
    sentinelName: z.string().default('mymaster').meta({ description: 'The master set name the sentinels watch, for mode: sentinel.' }),
    nodes: z.array(redisAddress).default([]).meta({ description: 'Some cluster nodes (host:port) to discover the rest from, for mode: cluster.' }),
    commandTimeout: duration('2s', 'A command without a reply after this long fails (publish answers 503).'),
    leaseTtl: duration('5s', 'How long the Pub/Sub bridge leader lease lasts without renewal (see docs/architecture.md).'),
  })
  .prefault({});

const channelPattern = z.string().refine(isValidPattern, 'expected a channel or a pattern of /-separated segments where * is one segment and ** one or more');

/** Empty string means "not set", so every key has a default and can be given as SSEG_AUTH__… in the environment. */
const optionalText = (description: string, secret?: SecretKind) =>
  z
    .string()
    .default('')
    .meta(secret === undefined ? { description } : ({ description, secret } satisfies Meta));

const jwt = z
  .strictObject({
    secret: optionalText(
      'HMAC key (HS256/384/512) tokens are signed with; at least 32 characters. One of secret, publicKey, jwksUrl turns JWT auth on.',
      true,
    ).superRefine((value, ctx) => {
      if (value !== '') notPlaceholder(value, ctx, SET_JWT_SECRET);
    }),
    publicKey: optionalText(
      'PEM public key tokens are verified with: RSA of 2048 bits or more (RS256), EC P-256, P-384 or P-521 (ES256, ES384, ES512), or Ed25519 (EdDSA). Any other key is refused at start-up.',
    ),
    jwksUrl: optionalText('URL of a JSON Web Key Set, fetched and cached; an unknown `kid` refetches it (rotation), at most once per jwksCooldown.', 'url'),
    jwksCooldown: duration(
      '30s',
      'Least time between two JWKS fetches triggered by unknown keys. 0: none, every unknown `kid` refetches (for tests: a client inventing kids would then cost a fetch each).',
      { zero: true },
    ),
    cookie: optionalText('Name of the cookie holding the token (what EventSource sends). Empty: cookies are not read.'),
    queryParam: optionalText(
      'Query parameter that may carry the token (for clients that can send neither header nor cookie; it is redacted from logs). Empty: off.',
    ),
    channelsClaim: z.string().min(1).default('channels').meta({ description: 'Claim listing the channel patterns the holder may subscribe to.' }),
    audience: optionalText('Required `aud`. Empty: not checked.'),
    issuer: optionalText('Required `iss`. Empty: not checked.'),
    clockTolerance: duration('5s', 'Clock skew allowed when checking exp and nbf. A token is good until exp plus this, and its stream ends then. 0: none.', {
      zero: true,
    }),
  })
  .prefault({});

const forward = z
  .strictObject({
    url: optionalText('App endpoint asked whether a stream may open (forward auth). Empty: off.', 'url'),
    timeout: duration('2s', 'An app that has not answered after this long: the client gets 504 SSEG_AUTH_TIMEOUT.'),
    cacheTtl: duration('5s', 'How long one decision is reused for the same credential and channels. 0: not reused, every stream asks the app.', { zero: true }),
    cacheSize: count(10_000, 1, 'Decisions cached at most; the oldest are evicted first.'),
  })
  .prefault({});

const ticket = z
  .strictObject({
    enabled: z.boolean().default(false).meta({ description: 'Serve ticket.path, where apps (with a publish credential) get single-use stream tickets.' }),
    path: urlPath('/tickets', 'Where apps POST {"subject", "channels", "ttl"?} for a ticket.'),
    ttl: duration('30s', 'Longest life of a ticket; a request may ask for less.'),
    maxOutstanding: count(100_000, 1, 'Unredeemed tickets held at most; beyond it, 503 SSEG_TICKETS_FULL.'),
  })
  .prefault({});

const origin = z.string().refine((value) => {
  try {
    return value !== '*' && new URL(value).origin === value;
  } catch {
    return false;
  }
}, 'expected an origin such as https://app.example.com (scheme, host, port; no path, no wildcard)');

const auth = z
  .strictObject({
    public: z.array(channelPattern).default([]).meta({ description: 'Channel patterns anyone may subscribe to, without a credential.' }),
    dropUnauthorized: z.boolean().default(false).meta({
      description: 'A multi-channel request naming channels its credential does not grant: false refuses it with 403; true opens the stream without them.',
    }),
    jwt,
    forward,
    ticket,
    cors: z
      .strictObject({
        origins: z
          .array(origin)
          .default([])
          .meta({ description: 'Origins whose pages may open streams with credentials (never a wildcard). Empty: no CORS headers.' }),
      })
      .prefault({}),
  })
  .prefault({});

const metrics = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: 'Serve Prometheus metrics.' }),
    path: urlPath('/metrics', 'Where Prometheus scrapes.'),
  })
  .prefault({});

const log = z
  .strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').meta({ description: 'Log level.' }),
  })
  .prefault({});

const upstream = z
  .strictObject({
    url: z
      .string()
      .refine((value) => value === '' || isHttpUrl(value), 'expected an http:// or https:// URL such as http://127.0.0.1:3000, or empty')
      .default('')
      .meta({
        description:
          "The app behind the gateway: every request that is not the gateway's own (streams, publish, metrics, health…) is proxied here, websocket upgrades included. Empty: such requests get 404.",
        secret: 'url',
      } satisfies Meta),
    connectTimeout: duration('5s', 'An app that has not accepted the TCP connection after this long: 504 SSEG_UPSTREAM_TIMEOUT.'),
    responseTimeout: duration(
      '30s',
      'An app that has not sent response headers this long after the request: 504 SSEG_UPSTREAM_TIMEOUT. Once headers arrive, the body may stream for as long as it likes.',
    ),
    maxSockets: count(
      512,
      1,
      "Connections to the app open at once, kept alive and reused. Requests beyond it wait for a free one (within responseTimeout); a proxied long-lived response such as the app's own SSE holds one for its life.",
    ),
  })
  .prefault({});

const demo = z
  .strictObject({
    enabled: z
      .union([z.boolean(), z.literal('auto')])
      .default('auto')
      .meta({
        description:
          'Serve the demo page at / (events on channel `demo`, live, and a form to publish one through a narrow demo-only path). `auto`: on only when upstream.url is empty (/ belongs to the app otherwise) and no auth mode (auth.jwt, auth.forward, auth.ticket) is on, since its publish path takes no credential. `true` serves it even then.',
      }),
    publishRate: count(5, 1, 'Events per second the demo page may publish, all visitors together (bursts up to 4 times this); beyond it, 429.'),
  })
  .prefault({});

export const configSchema = z
  .strictObject({ server, streams, history, publish, auth, ingress, redis, upstream, demo, metrics, log })
  .superRefine((config, ctx) => {
    if (config.streams.workers > 1 && config.history.backend !== 'redis') {
      ctx.addIssue({
        code: 'custom',
        path: ['streams', 'workers'],
        message: 'more than one worker needs history.backend: redis (workers share the log through Redis)',
      });
    }
    if (config.history.backend !== 'redis') {
      for (const [key, list] of [
        ['redisPubsub', config.ingress.redisPubsub.patterns],
        ['redisStreams', config.ingress.redisStreams.keys],
      ] as const) {
        if (list.length > 0) ctx.addIssue({ code: 'custom', path: ['ingress', key], message: 'needs history.backend: redis' });
      }
    }
    if (config.redis.mode === 'sentinel' && config.redis.sentinels.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redis', 'sentinels'], message: 'mode: sentinel needs at least one sentinel address' });
    }
    if (config.redis.mode === 'cluster' && config.redis.nodes.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['redis', 'nodes'], message: 'mode: cluster needs at least one node address' });
    }
    const { jwt, forward, ticket } = config.auth;
    const keySources = [jwt.secret, jwt.publicKey, jwt.jwksUrl].filter((value) => value !== '').length;
    if (keySources > 1) ctx.addIssue({ code: 'custom', path: ['auth', 'jwt'], message: 'set only one of secret, publicKey, jwksUrl' });
    if (jwt.secret !== '' && jwt.secret.length < 32)
      ctx.addIssue({ code: 'custom', path: ['auth', 'jwt', 'secret'], message: 'must be at least 32 characters' });
    // Read here, not first in the JWT authenticator, so check-config refuses a key that could verify no token.
    const publicKey = jwt.publicKey === '' ? undefined : readPublicKey(jwt.publicKey);
    if (publicKey !== undefined && 'problem' in publicKey) ctx.addIssue({ code: 'custom', path: ['auth', 'jwt', 'publicKey'], message: publicKey.problem });
    for (const [key, value] of [
      ['jwksUrl', jwt.jwksUrl],
      ['url', forward.url],
    ] as const) {
      if (value !== '' && !/^https?:\/\/[^\s]+$/.test(value)) {
        ctx.addIssue({ code: 'custom', path: ['auth', key === 'url' ? 'forward' : 'jwt', key], message: 'expected an http(s) URL' });
      }
    }
    if (keySources === 0 && forward.url === '' && !ticket.enabled && config.auth.public.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['auth', 'public'], message: 'public channels only mean something with an auth mode (jwt, forward or ticket) on' });
    }
    const paths: Array<[string, string]> = [
      ['streams.path', config.streams.path],
      ['publish.path', config.publish.path],
      ['metrics.path', config.metrics.path],
      ...(ticket.enabled ? [['auth.ticket.path', ticket.path] as [string, string]] : []),
    ];
    const reserved = new Set(['/healthz', '/readyz']);
    for (const [key, path] of paths) {
      if (reserved.has(path)) ctx.addIssue({ code: 'custom', path: key.split('.'), message: `${path} is reserved for health checks` });
      for (const [otherKey, other] of paths) {
        if (key < otherKey && (path === other || path.startsWith(`${other}/`) || other.startsWith(`${path}/`))) {
          ctx.addIssue({ code: 'custom', path: key.split('.'), message: `${path} overlaps ${otherKey} (${other})` });
        }
      }
    }
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
