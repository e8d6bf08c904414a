import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';
import type { EventInput } from '../history/history.ts';
import { decodeUtf8, readBody } from '../http/body.ts';
import { assertChannel, assertEventName } from '../sse/names.ts';

export interface WebhookOptions {
  readonly tokens: readonly string[];
  readonly maxBodyBytes: number;
  readonly maxBatchEvents: number;
}

const EVENT_KEYS = new Set(['channel', 'event', 'data']);

/**
 * `POST /publish`: a bearer token, then one event `{channel, event?, data}` or a batch
 * `{events: [...]}`. Everything is validated before anything is appended, so a bad batch is
 * refused whole and nothing of it is published.
 */
export class WebhookIngress {
  private readonly tokenDigests: readonly Buffer[];
  private readonly options: WebhookOptions;

  constructor(options: WebhookOptions) {
    this.options = options;
    // Compared as digests: equal length for timingSafeEqual, and no length leak.
    this.tokenDigests = options.tokens.map(digest);
  }

  authorize(request: IncomingMessage): void {
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    if (token === undefined || token === '') {
      throw new GatewayError('SSEG_UNAUTHORIZED', 'publishing needs Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer' });
    }
    const presented = digest(token);
    let matched = false;
    for (const known of this.tokenDigests) matched = timingSafeEqual(known, presented) || matched;
    if (!matched) throw new GatewayError('SSEG_UNAUTHORIZED', 'the publish token is not valid', { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
  }

  async read(request: IncomingMessage): Promise<{ events: EventInput[]; batch: boolean }> {
    return this.parse(await readBody(request, this.options.maxBodyBytes));
  }

  /** A body already read (an HMAC-signed publish is verified over its raw bytes before parsing). */
  parse(bytes: Buffer): { events: EventInput[]; batch: boolean } {
    return parsePublishBody(this.parseJson(bytes), this.options.maxBatchEvents);
  }

  /** Strict UTF-8, then JSON; each failure with its own code. */
  parseJson(bytes: Buffer): unknown {
    const text = decodeUtf8(bytes);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new GatewayError('SSEG_BAD_JSON', 'request body is not valid JSON');
    }
  }
}

export function parsePublishBody(body: unknown, maxBatchEvents: number): { events: EventInput[]; batch: boolean } {
  if (!isObject(body)) throw new GatewayError('SSEG_BAD_EVENT', 'body must be an event {"channel", "event"?, "data"} or a batch {"events": [...]}');
  if ('events' in body) {
    const list = body['events'];
    if (!Array.isArray(list) || list.length === 0) throw new GatewayError('SSEG_BAD_EVENT', '"events" must be a non-empty array');
    if (Object.keys(body).length > 1) throw new GatewayError('SSEG_BAD_EVENT', 'a batch body has only "events"');
    if (list.length > maxBatchEvents) throw new GatewayError('SSEG_BAD_EVENT', `a batch may carry at most ${maxBatchEvents} events`);
    return { events: list.map((item, index) => parseEvent(item, `events[${index}]`)), batch: true };
  }
  return { events: [parseEvent(body, 'body')], batch: false };
}

function parseEvent(value: unknown, where: string): EventInput {
  if (!isObject(value)) throw new GatewayError('SSEG_BAD_EVENT', `${where} must be an object {"channel", "event"?, "data"}`);
  for (const key of Object.keys(value)) {
    if (!EVENT_KEYS.has(key)) throw new GatewayError('SSEG_BAD_EVENT', `${where} has an unknown field ${JSON.stringify(key.slice(0, 40))}`);
  }
  const { channel, event, data } = value;
  if (channel === undefined) throw new GatewayError('SSEG_BAD_EVENT', `${where}.channel is missing`);
  assertChannel(channel, `${where}.channel`);
  if (event !== undefined) assertEventName(event, `${where}.event`);
  if (data === undefined) throw new GatewayError('SSEG_BAD_EVENT', `${where}.data is missing`);
  // Strings go out as they are; any other JSON value is serialized once, here.
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  if (!text.isWellFormed()) throw new GatewayError('SSEG_BAD_ENCODING', `${where}.data is not valid Unicode (lone surrogate)`);
  return { channel, event, data: text };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
