import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliProcess } from '../support/cli.ts';
import { until } from '../support/poll.ts';
import { startRedis, type TestRedis } from '../support/redis.ts';
import { openStream, type StreamClient } from '../support/sse-client.ts';

const TOKEN = 'cluster-test-token-0123456789';
let redis: TestRedis;
let dir: string;
const running: CliProcess[] = [];
const streams: StreamClient[] = [];

beforeAll(async () => {
  redis = await startRedis();
  dir = await mkdtemp(join(tmpdir(), 'sseg-cluster-'));
});
afterAll(async () => {
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const stream of streams.splice(0)) stream.close();
  for (const cli of running.splice(0)) {
    if (cli.child.exitCode === null) cli.kill('SIGKILL');
    await cli.exited;
  }
  await redis.cli('FLUSHALL');
});

interface Served {
  readonly cli: CliProcess;
  readonly url: string;
}

/** `sse-gateway serve` with two workers on the suite's Redis; resolves once the primary says it listens. */
async function serveCluster(extraYaml = ''): Promise<Served> {
  const file = join(dir, `gateway-${running.length}.yaml`);
  await writeFile(
    file,
    `streams:\n  workers: 2\n  retry: 200ms\nhistory:\n  backend: redis\nredis:\n  url: ${redis.url}\npublish:\n  tokens: [${TOKEN}]\nserver:\n  shutdownTimeout: 2s\n${extraYaml}`,
  );
  const cli = runCli(['serve', '--config', file, '--host', '127.0.0.1', '--port', '0']);
  running.push(cli);
  const [line] = await cli.waitForOutput(/\{[^\n]*"msg":"listening"[^\n]*\}/, 20_000);
  const { address } = JSON.parse(line) as { address: string };
  return { cli, url: address };
}

async function stream(url: string, headers: Record<string, string> = {}): Promise<StreamClient> {
  const client = await openStream(url, headers);
  streams.push(client);
  expect(client.status).toBe(200);
  return client;
}

async function publish(url: string, channel: string, data: string): Promise<string> {
  const response = await fetch(`${url}/publish`, {
    method: 'POST',
    headers: { 'Authorization': `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, data }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id: string }).id;
}

/** The processes the primary forked (its workers), from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) children.push(Number(entry));
    } catch {
      // Ended while we listed.
    }
  }
  return children.sort((a, b) => a - b);
}

function socketsOf(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
    } catch {
      return false;
    }
  }).length;
}

function metricValue(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!match) throw new Error(`no ${name} in the metrics`);
  return Number(match[1]);
}

describe('streams.workers: several processes on one port, sharing the Redis log', () => {
  it('refuses more than one worker on the in-memory log, naming the key', async () => {
    const file = join(dir, 'memory-workers.yaml');
    await writeFile(file, 'streams:\n  workers: 2\n');
    const check = runCli(['check-config', file]);
    expect(await check.exited).toBe(1);
    expect(check.stderr()).toContain('streams.workers');
    expect(check.stderr()).toContain('history.backend: redis');
  });

  it('spreads streams over the workers, delivers each event once to every stream, resumes on any worker, and sums metrics', async () => {
    const { cli, url } = await serveCluster();
    const pid = cli.child.pid ?? 0;
    const workers = childrenOf(pid);
    expect(workers).toHaveLength(2);
    const before = workers.map(socketsOf);

    const first = await publish(url, 'news', 'one');
    const clients = await Promise.all(Array.from({ length: 20 }, () => stream(`${url}/events/news`)));
    // node:cluster hands connections out round-robin: both workers hold some of the streams.
    const gained = workers.map((worker, index) => socketsOf(worker) - (before[index] ?? 0));
    for (const count of gained) expect(count).toBeGreaterThanOrEqual(5);

    const second = await publish(url, 'news', 'two');
    for (const client of clients) {
      await client.waitForEvents(1);
      expect(client.events.map((event) => [event.id, event.data])).toEqual([[second, 'two']]);
    }

    // Resuming from the first id on whichever worker a connection lands: exactly the events after it.
    const resumed = await Promise.all(Array.from({ length: 6 }, () => stream(`${url}/events/news`, { 'Last-Event-ID': first })));
    for (const client of resumed) {
      await client.waitForEvents(1);
      expect(client.events.map((event) => event.data)).toEqual(['two']);
    }

    // A scrape lands on one worker but counts every worker's streams.
    for (let scrape = 0; scrape < 4; scrape += 1) {
      const text = await (await fetch(`${url}/metrics`)).text();
      expect(metricValue(text, 'sseg_connections_open')).toBe(26);
    }
  }, 60_000);

  it('replaces a worker that dies, and its clients resume on the others without loss', async () => {
    const { cli, url } = await serveCluster();
    const pid = cli.child.pid ?? 0;
    const [victim, survivor] = childrenOf(pid);
    const clients = await Promise.all(Array.from({ length: 10 }, () => stream(`${url}/events/c`)));
    const seen = await publish(url, 'c', 'before');
    for (const client of clients) await client.waitForEvents(1);

    process.kill(victim ?? 0, 'SIGKILL');
    await until(() => clients.some((client) => client.ended), 'the dead worker’s streams to end', 10_000);
    const cut = clients.filter((client) => client.ended);
    expect(cut.length).toBeGreaterThan(0);
    expect(cut.length).toBeLessThan(clients.length);
    const missed = await publish(url, 'c', 'while one was down');

    await until(() => childrenOf(pid).length === 2, 'a replacement worker', 15_000);
    const replacement = childrenOf(pid).find((worker) => worker !== survivor);
    expect(replacement).not.toBe(victim);
    await cli.waitForOutput(/"msg":"replacement worker listening"/, 15_000);

    // What a browser does for each cut stream: come back with its Last-Event-ID.
    for (let index = 0; index < cut.length; index += 1) {
      const again = await stream(`${url}/events/c`, { 'Last-Event-ID': seen });
      await again.waitForEvents(1);
      expect(again.events.map((event) => [event.id, event.data])).toEqual([[missed, 'while one was down']]);
    }
  }, 60_000);

  it('on SIGTERM drains every worker: each stream gets a retry hint and ends, then the process exits 0', async () => {
    const { cli, url } = await serveCluster();
    const pid = cli.child.pid ?? 0;
    const workers = childrenOf(pid);
    const clients = await Promise.all(Array.from({ length: 8 }, () => stream(`${url}/events/d`)));
    cli.kill('SIGTERM');
    for (const client of clients) {
      await client.waitForEnd(10_000);
      // The preamble's retry, then the drain's jittered one.
      expect(client.retries).toHaveLength(2);
    }
    expect(await cli.exited).toBe(0);
    for (const worker of workers) expect(() => process.kill(worker, 0)).toThrow();
  }, 30_000);

  it('runs an app’s own SSE endpoint through one upstream connection, not one per worker', async () => {
    const upstream = await startUpstream();
    try {
      const { url } = await serveCluster(`ingress:\n  upstreamSse:\n    - url: ${upstream.url}\n      channel: app\n`);
      const clients = await Promise.all(Array.from({ length: 6 }, () => stream(`${url}/events/app`)));
      await until(() => upstream.open.size > 0, 'the upstream connection', 10_000);
      upstream.emit('from the app');
      for (const client of clients) await client.waitForEvents(1);
      upstream.emit('and again');
      // Had each worker its own upstream connection, every event would be appended (and seen) twice.
      for (const client of clients) {
        await client.waitForEvents(2);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(client.events.map((event) => event.data)).toEqual(['from the app', 'and again']);
      }
      expect(upstream.accepted).toBe(1);
    } finally {
      await upstream.close();
    }
  }, 60_000);
});

interface Upstream {
  readonly url: string;
  readonly open: Set<ServerResponse>;
  readonly accepted: number;
  emit(data: string): void;
  close(): Promise<void>;
}

/** A minimal app SSE endpoint that counts the connections it accepts. */
async function startUpstream(): Promise<Upstream> {
  const open = new Set<ServerResponse>();
  let accepted = 0;
  let id = 0;
  const server: Server = createServer((_request, response) => {
    accepted += 1;
    response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    response.write(':ok\n\n');
    open.add(response);
    response.on('close', () => open.delete(response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream`,
    open,
    get accepted() {
      return accepted;
    },
    emit(data) {
      id += 1;
      for (const response of open) response.write(`id: u-${id}\ndata: ${data}\n\n`);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of open) response.destroy();
        server.close(() => resolve());
      }),
  };
}
