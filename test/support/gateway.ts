import { Writable } from 'node:stream';
import { resolveConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { createLogger } from '../../src/logger.ts';

export const TEST_TOKEN = 'test-publish-token-0123456789';

export interface TestGateway {
  /** Origin, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly gateway: Gateway;
  readonly config: Readonly<Config>;
  /** Every log line the gateway wrote, as JSON text. */
  readonly logs: string[];
  /** POST /publish with the test token; resolves with the parsed answer, throws on a non-2xx. */
  publish(channel: string, data: unknown, event?: string): Promise<string>;
  publishRaw(
    body: string | Buffer,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: { error?: string; message?: string; id?: string; ids?: string[] }; headers: Headers }>;
  close(): Promise<void>;
}

/** A real gateway on 127.0.0.1, port 0, in this process, with test-friendly defaults under `input`. */
export async function startGateway(input: Record<string, unknown> = {}): Promise<TestGateway> {
  const defaults = { server: { host: '127.0.0.1', port: 0 }, publish: { tokens: [TEST_TOKEN] }, log: { level: 'debug' } };
  const config = resolveConfig(merge(defaults, input));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const gateway = createGateway(config, { logger: createLogger(config.log.level, sink) });
  const url = (await gateway.listen()).origin;

  const publishRaw: TestGateway['publishRaw'] = async (body, headers = {}) => {
    const response = await fetch(`${url}${config.publish.path}`, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${TEST_TOKEN}`, 'Content-Type': 'application/json', ...headers },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as object), headers: response.headers };
  };

  return {
    url,
    gateway,
    config,
    logs,
    publishRaw,
    async publish(channel, data, event) {
      const { status, body } = await publishRaw(JSON.stringify({ channel, data, ...(event === undefined ? {} : { event }) }));
      if (status !== 200 || body.id === undefined) throw new Error(`publish failed: ${status} ${JSON.stringify(body)}`);
      return body.id;
    },
    close: () => gateway.close(),
  };
}

function merge(base: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] =
      typeof value === 'object' && value !== null && !Array.isArray(value) && typeof current === 'object' && current !== null
        ? merge(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}
