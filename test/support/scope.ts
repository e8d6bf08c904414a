import { afterEach } from 'vitest';
import { startGateway, type TestGateway } from './gateway.ts';
import { openStream, type StreamClient } from './sse-client.ts';

export interface TestScope {
  /** Runs `cleanup` after the current test, last registered first. */
  readonly defer: (cleanup: () => unknown) => void;
  /** startGateway, closed after the test. */
  readonly gateway: (input?: Record<string, unknown>) => Promise<TestGateway>;
  /** openStream, closed after the test. */
  readonly stream: (url: string, headers?: Record<string, string>) => Promise<StreamClient>;
}

/** Per-test cleanup for a test file: everything opened through it is closed after each test. */
export function testScope(): TestScope {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const defer = (cleanup: () => unknown): void => {
    cleanups.push(cleanup);
  };
  return {
    defer,
    gateway: async (input = {}) => {
      const started = await startGateway(input);
      defer(() => started.close());
      return started;
    },
    stream: async (url, headers = {}) => {
      const client = await openStream(url, headers);
      defer(() => client.close());
      return client;
    },
  };
}
