import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliProcess } from '../support/cli.ts';
import { openStream } from '../support/sse-client.ts';

const running: CliProcess[] = [];
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const cli of running.splice(0)) {
    if (cli.child.exitCode === null) cli.kill('SIGKILL');
    await cli.exited;
  }
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sseg-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Starts `serve` and reads the listening address from its one JSON log line. */
async function serve(args: string[] = [], env: Record<string, string> = {}): Promise<{ cli: CliProcess; url: string }> {
  const cli = runCli(['serve', '--host', '127.0.0.1', '--port', '0', ...args], env);
  running.push(cli);
  const [line] = await cli.waitForOutput(/\{[^\n]*"msg":"listening"[^\n]*\}/);
  const { address } = JSON.parse(line) as { address: string };
  return { cli, url: address };
}

describe('sse-gateway serve', () => {
  it('runs the embedded default: prints a generated token that publishes to a stream', async () => {
    const { cli, url } = await serve();
    const [, token] = await cli.waitForOutput(/publish token \(generated[^)]*\): (\S+)/);
    expect(token).toMatch(/^[\w-]{32}$/);
    // Logs are JSON on stdout and never carry the token.
    expect(cli.stdout()).not.toContain(token);

    const client = await openStream(`${url}/events/demo`);
    cleanups.push(() => client.close());
    await client.waitFor((c) => c.raw().length > 0);
    const publisher = runCli(['publish', '--url', url, '--token', token ?? '', '--channel', 'demo', '--event', 'greeting', '--id-only', 'hello there']);
    expect(await publisher.exited).toBe(0);
    const id = publisher.stdout().trim();
    await client.waitForEvents(1);
    expect(client.events[0]).toMatchObject({ id, event: 'greeting', data: 'hello there' });
  });

  it('takes publish tokens from the environment and generates none', async () => {
    const { cli, url } = await serve([], { SSEG_PUBLISH__TOKENS: 'env-token-0123456789abcdef' });
    const publisher = runCli(['publish', '--url', `${url}/publish`, '--token', 'env-token-0123456789abcdef', '--channel', 'c', 'x']);
    expect(await publisher.exited).toBe(0);
    expect(JSON.parse(publisher.stdout()) as unknown).toEqual({ id: expect.stringMatching(/-1$/) as unknown });
    expect(cli.stderr()).not.toContain('publish token');
  });

  it('passes flags through `npm start --` and runs on Node 24', async () => {
    const child = spawn('npm', ['start', '--', '--port', '0', '--host', '127.0.0.1'], { cwd: process.cwd(), detached: true, stdio: 'pipe' });
    cleanups.push(async () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
      await new Promise((resolve) => (child.exitCode === null ? child.on('exit', resolve) : resolve(null)));
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await expect.poll(() => /"msg":"listening"/.test(out), { timeout: 15_000 }).toBe(true);
    const line = out.split('\n').find((l) => l.includes('"msg":"listening"')) ?? '{}';
    const { address, node } = JSON.parse(line) as { address: string; node: string };
    expect(address).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(address).not.toMatch(/:8080$/);
    expect(node).toMatch(/^v24\./);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('on %s tells streams when to come back (jittered), ends them and exits 0', async (signal) => {
    const { cli, url } = await serve(['--config', await writeConfig('retry.yaml', 'streams:\n  retry: 2s\n')]);
    const clients = await Promise.all(Array.from({ length: 5 }, () => openStream(`${url}/events/a`)));
    for (const client of clients) {
      cleanups.push(() => client.close());
      await client.waitFor((c) => c.retries.length === 1);
    }
    cli.kill(signal);
    for (const client of clients) await client.waitForEnd();
    expect(await cli.exited).toBe(0);
    const hints = clients.map((client) => client.retries[1] ?? -1);
    for (const hint of hints) {
      expect(hint).toBeGreaterThanOrEqual(2000);
      expect(hint).toBeLessThanOrEqual(6000);
    }
    // Five clients drawing the same delay would mean no jitter.
    expect(new Set(hints).size).toBeGreaterThan(1);
    expect(cli.stdout()).toMatch(/"msg":"shutting down"/);
    expect(cli.stdout()).toMatch(/"msg":"stopped"/);
  });

  it('exits 0 within server.shutdownTimeout when a client has stopped reading, after the others got their retry', async () => {
    const token = 'drain-token-0123456789abcdef';
    const config = await writeConfig('drain.yaml', 'server:\n  shutdownTimeout: 2s\nstreams:\n  clientBufferBytes: 2mb\npublish:\n  maxBodyBytes: 2mb\nhistory:\n  maxEvents: 5\n');
    const { cli, url } = await serve(['--config', config], { SSEG_PUBLISH__TOKENS: token });
    const reader = await openStream(`${url}/events/flood`);
    cleanups.push(() => reader.close());
    // A bare socket that never reads a byte: its gateway socket fills, then the gateway's buffer.
    const stuck = connect(Number(new URL(url).port), '127.0.0.1');
    cleanups.push(() => void stuck.destroy());
    stuck.on('error', () => undefined);
    stuck.write('GET /events/flood HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
    const gauge = async (name: string): Promise<number> => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    };
    await expect.poll(() => gauge('sseg_connections_open')).toBe(2);
    const batch = JSON.stringify({ events: Array.from({ length: 8 }, () => ({ channel: 'flood', data: 'x'.repeat(16 * 1024) })) });
    for (let published = 0; (await gauge('sseg_stream_buffered_bytes')) === 0; published += 1) {
      expect(published).toBeLessThan(600);
      const response = await fetch(`${url}/publish`, { method: 'POST', headers: { 'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json' }, body: batch });
      expect(response.status).toBe(200);
    }

    const started = Date.now();
    cli.kill('SIGTERM');
    // 0 is close() finishing; the fallback timer (shutdownTimeout + 5 s) would exit 1.
    expect(await cli.exited).toBe(0);
    const elapsed = Date.now() - started;
    // The stuck client had the whole bound to read, and no more.
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(4_500);
    await reader.waitForEnd();
    expect(reader.retries).toHaveLength(2);
  });

  it('refuses a bad config file at start, naming every problem, and exits non-zero', async () => {
    const cli = runCli(['serve', '--config', await writeConfig('bad-serve.yaml', 'server:\n  port: -1\nstreams:\n  heartbeat: soon\n')]);
    running.push(cli);
    expect(await cli.exited).toBe(1);
    expect(cli.stderr()).toMatch(/server\.port: .*got -1/);
    expect(cli.stderr()).toMatch(/streams\.heartbeat: expected a duration/);
  });
});

describe('sse-gateway check-config', () => {
  it('prints the effective config with secrets masked', async () => {
    const file = await writeConfig('good.yaml', 'publish:\n  tokens: ["a-very-secret-token-123"]\nstreams:\n  heartbeat: 5s\n');
    const cli = runCli(['check-config', file]);
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).not.toContain('a-very-secret-token-123');
    expect(cli.stdout()).toMatch(/tokens:\n\s+- "\*\*\*"/);
    expect(cli.stdout()).toMatch(/heartbeat: 5000/);
    expect(cli.stderr()).toMatch(/good\.yaml: valid/);
  });

  it('lists every problem with path, expectation and value, and exits 1', async () => {
    const file = await writeConfig('bad.yaml', 'server:\n  port: "http"\nstreams:\n  slowClient: wait\n  typo: 1\nhistory:\n  maxEvents: 0\n');
    const cli = runCli(['check-config', file]);
    expect(await cli.exited).toBe(1);
    const lines = cli.stderr().split('\n').filter((l) => l.startsWith('  '));
    expect(lines).toHaveLength(4);
    expect(cli.stderr()).toContain('server.port: expected number, got "http"');
    expect(cli.stderr()).toMatch(/streams\.slowClient: .*got "wait"/);
    expect(cli.stderr()).toContain('streams.typo: unknown key');
    expect(cli.stderr()).toMatch(/history\.maxEvents: .*got 0/);
  });
});

describe('sse-gateway publish', () => {
  it('exits non-zero and shows the refusal for a wrong token', async () => {
    const { url } = await serve([], { SSEG_PUBLISH__TOKENS: 'the-right-token-0123456789' });
    const cli = runCli(['publish', '--url', url, '--token', 'the-wrong-token-0123456789', '--channel', 'c', 'x']);
    expect(await cli.exited).toBe(1);
    expect(cli.stderr()).toMatch(/publish refused \(401\).*SSEG_UNAUTHORIZED/);
  });
});

async function writeConfig(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}
