import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PublisherAuth } from '../auth/publisher.ts';
import type { Cors } from '../auth/cors.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import type { EventInput, History } from '../history/history.ts';
import { decodeUtf8 } from '../http/body.ts';
import { sendJson } from '../http/reply.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { assertChannel, assertEventName } from '../sse/names.ts';
import type { Ingress } from './ingress.ts';

export interface WebhookOptions {
  readonly maxBodyBytes: number;
  readonly maxBatchEvents: number;
}

export interface WebhookDeps {
  readonly history: History;
  readonly publishers: PublisherAuth;
  readonly cors: Cors;
  readonly metrics: Metrics;
  /** True once the gateway drains: publishes go to another instance. */
  readonly draining: () => boolean;
}

const EVENT_KEYS = new Set(['channel', 'event', 'data']);
/**
 * Deepest nesting of a JSON `data` value. JSON.parse takes any depth, but serializing it again
 * recurses, and 400,000 `[` in under a megabyte overflow the stack: refused with a code first.
 */
export const MAX_DATA_DEPTH = 512;

/**
 * `POST /publish`, end to end: a publisher's credential (src/auth/publisher.ts), then one event
 * `{channel, event?, data}` or a batch `{events: [...]}`, appended to the log and answered
 * with its id(s) once stored. Everything is validated before anything is appended, so a bad
 * batch is refused whole and nothing of it is published.
 */
export class WebhookIngress implements Ingress {
  readonly name = 'webhook';
  private readonly options: WebhookOptions;
  private readonly deps: WebhookDeps;
  /** Publishes accepted and not yet answered: close() waits for them, so none is cut off unanswered. */
  private readonly inFlight = new Set<Promise<void>>();

  constructor(options: WebhookOptions, deps: WebhookDeps) {
    this.options = options;
    this.deps = deps;
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.inFlight]);
  }

  handle = (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const pending = this.publish(request, response);
    this.inFlight.add(pending);
    const settle = (): void => void this.inFlight.delete(pending);
    pending.then(settle, settle);
    return pending;
  };

  private async publish(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { history, publishers, cors, metrics } = this.deps;
    try {
      if (this.deps.draining()) throw new GatewayError('SSEG_SHUTTING_DOWN', 'this gateway is shutting down; publish to another instance');
      cors.apply(request, response);
      const authorized = await publishers.readAuthorized(request, this.options.maxBodyBytes);
      const { events, batch } = parsePublishBody(parseJsonBody(authorized.body), this.options.maxBatchEvents);
      let logged;
      try {
        logged = await history.append(events);
      } catch (error) {
        // Not stored: the app's retry of this very request (same signature) must be taken.
        if (isGatewayError(error) && error.code === 'SSEG_UNAVAILABLE') await publishers.release(authorized);
        throw error;
      }
      metrics.eventsPublished.inc({ ingress: 'webhook' }, logged.length);
      sendJson(response, 200, batch ? { ids: logged.map((event) => event.id) } : { id: logged[0]?.id });
    } catch (error) {
      metrics.publishRejected.inc({ code: isGatewayError(error) ? error.code : 'SSEG_INTERNAL' });
      throw error;
    }
  }
}

/** Strict UTF-8, then JSON; each failure with its own code. */
export function parseJsonBody(bytes: Buffer): unknown {
  const text = decodeUtf8(bytes);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new GatewayError('SSEG_BAD_JSON', 'request body is not valid JSON');
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
  if (typeof data === 'object' && data !== null && nestingDepth(data) > MAX_DATA_DEPTH) {
    throw new GatewayError('SSEG_BAD_EVENT', `${where}.data nests deeper than ${MAX_DATA_DEPTH} levels`);
  }
  // Strings go out as they are; any other JSON value is serialized once, here.
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  if (!text.isWellFormed()) throw new GatewayError('SSEG_BAD_ENCODING', `${where}.data is not valid Unicode (lone surrogate)`);
  return { channel, event, data: text };
}

/**
 * How deep arrays and objects nest in a parsed JSON value, walked with an explicit stack (a
 * recursive walk would overflow on exactly the input it is meant to refuse). Stops as soon as
 * the bound is passed.
 */
function nestingDepth(root: object): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (typeof value !== 'object' || value === null) continue;
    if (depth > deepest) deepest = depth;
    if (deepest > MAX_DATA_DEPTH) return deepest;
    for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return deepest;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
