import { request, type IncomingHttpHeaders } from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface StreamClient {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Every byte received so far, as text: for byte-exact wire assertions. */
  raw(): string;
  readonly events: EventSourceMessage[];
  readonly comments: string[];
  readonly retries: number[];
  /** True once the server ended or dropped the response. */
  readonly ended: boolean;
  /** Resolves when `predicate` holds over what was received; rejects after `timeoutMs`. */
  waitFor(predicate: (client: StreamClient) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  waitForEvents(count: number, timeoutMs?: number): Promise<EventSourceMessage[]>;
  waitForEnd(timeoutMs?: number): Promise<void>;
  /** Stop reading without closing: the socket's receive window fills and the server sees backpressure. */
  pause(): void;
  resume(): void;
  close(): void;
}

/**
 * A raw HTTP SSE client: it keeps the exact bytes and parses them with eventsource-parser, so
 * tests can assert both the wire format and the events a browser would see. For non-200
 * answers, `raw()` holds the body.
 */
export function openStream(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  return new Promise((resolve, reject) => {
    const chunks: string[] = [];
    const events: EventSourceMessage[] = [];
    const comments: string[] = [];
    const retries: number[] = [];
    const waiters = new Set<() => void>();
    let ended = false;
    const notify = (): void => {
      for (const waiter of waiters) waiter();
    };
    const parser = createParser({
      onEvent: (event) => events.push(event),
      onComment: (comment) => comments.push(comment),
      onRetry: (ms) => retries.push(ms),
    });

    const req = request(url, { headers: { Accept: 'text/event-stream', ...headers } }, (response) => {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        chunks.push(chunk);
        parser.feed(chunk);
        notify();
      });
      const finish = (): void => {
        ended = true;
        notify();
      };
      response.on('end', finish);
      response.on('close', finish);
      response.on('error', finish);

      const client: StreamClient = {
        status: response.statusCode ?? 0,
        headers: response.headers,
        raw: () => chunks.join(''),
        events,
        comments,
        retries,
        get ended() {
          return ended;
        },
        waitFor(predicate, timeoutMs = 5_000, what = 'condition') {
          return new Promise<void>((done, fail) => {
            const check = (): void => {
              if (predicate(client)) {
                clearTimeout(timer);
                waiters.delete(check);
                done();
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out waiting for ${what}; received: ${JSON.stringify(chunks.join('').slice(-500))}`));
            }, timeoutMs);
            waiters.add(check);
            check();
          });
        },
        async waitForEvents(count, timeoutMs) {
          await client.waitFor((c) => c.events.length >= count, timeoutMs, `${count} events`);
          return events.slice(0, count);
        },
        waitForEnd(timeoutMs) {
          return client.waitFor((c) => c.ended, timeoutMs, 'the stream to end');
        },
        pause: () => response.pause(),
        resume: () => response.resume(),
        close: () => req.destroy(),
      };
      resolve(client);
    });
    req.on('error', (error) => {
      if (!ended) reject(error);
    });
    req.end();
  });
}
