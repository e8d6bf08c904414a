import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { connect, createServer as createTcpServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, runCliToEnd, type CliEnv, type CliProcess } from '../support/cli.ts';
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
async function serve(args: string[] = [], env: CliEnv = {}): Promise<{ cli: CliProcess; url: string }> {
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
    const config = await writeConfig(
      'drain.yaml',
      'server:\n  shutdownTimeout: 2s\nstreams:\n  clientBufferBytes: 2mb\npublish:\n  maxBodyBytes: 2mb\nhistory:\n  maxEvents: 5\n',
    );
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
      const response = await fetch(`${url}/publish`, {
        method: 'POST',
        headers: { 'Authorization': `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: batch,
      });
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
    expect(cli.stdout()).toMatch(/heartbeat: 5s\n/);
    expect(cli.stdout()).toMatch(/clientBufferBytes: 256kb\n/);
    expect(cli.stderr()).toMatch(/good\.yaml: valid/);
  });

  it('prints a config that reads back as the same config, units and all', async () => {
    const file = await writeConfig(
      'units.yaml',
      'server:\n  shutdownTimeout: 1s500ms\nstreams:\n  heartbeat: 90s\n  coalesce: 0\n  clientBufferBytes: 1000\nhistory:\n  maxAge: 2h30m\npublish:\n  maxBodyBytes: 1.5mb\nauth:\n  forward:\n    cacheTtl: 0\n',
    );
    const first = await runCliToEnd(['check-config', file]);
    expect(first.code).toBe(0);
    for (const line of [
      'shutdownTimeout: 1s500ms',
      'heartbeat: 1m30s',
      'coalesce: 0s',
      'clientBufferBytes: 1000b',
      'maxAge: 2h30m',
      'maxBodyBytes: 1536kb',
      'cacheTtl: 0s',
    ]) {
      expect(first.stdout).toContain(`  ${line}\n`);
    }
    const again = await runCliToEnd(['check-config', await writeConfig('units-again.yaml', first.stdout)]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(first.stdout);
  });

  it('refuses its own output where it masked a secret, instead of taking *** as the token', async () => {
    const first = await runCliToEnd(['check-config', await writeConfig('masked.yaml', 'publish:\n  tokens: ["a-very-secret-token-123"]\n')]);
    const again = await runCliToEnd(['check-config', await writeConfig('masked-again.yaml', first.stdout)]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/publish\.tokens\.0: is the mask check-config prints in place of a secret/);
  });

  it('refuses the example placeholder token, saying how to set a real one, and never shows it', async () => {
    const literal = await runCliToEnd(['check-config', await writeConfig('placeholder.yaml', 'publish:\n  tokens: [change-me-to-a-long-random-token]\n')]);
    expect(literal.code).toBe(1);
    expect(literal.stdout).toBe('');
    expect(literal.stderr).toMatch(/publish\.tokens\.0: is a placeholder from an example, not a secret: .*SSEG_PUBLISH__TOKENS=/);
    expect(literal.stderr).not.toContain('change-me-to-a-long-random-token');

    // What config/gateway.example.yaml used to say: the fix is the variable it names.
    const fallback = await writeConfig('old-example.yaml', 'publish:\n  tokens:\n    - ${SSEG_PUBLISH_TOKEN:-change-me-to-a-long-random-token}\n');
    const unset = await runCliToEnd(['check-config', fallback], { SSEG_PUBLISH_TOKEN: undefined });
    expect(unset.code).toBe(1);
    expect(unset.stderr).toMatch(
      /environment variable SSEG_PUBLISH_TOKEN is not set, and the fallback written in the file is a placeholder: set SSEG_PUBLISH_TOKEN/,
    );
    expect((await runCliToEnd(['check-config', fallback], { SSEG_PUBLISH_TOKEN: 'a-real-token-0123456789abcdef' })).code).toBe(0);
  });

  it('accepts the shipped example config as it is', async () => {
    const result = await runCliToEnd(['check-config', 'config/gateway.example.yaml'], { SSEG_PUBLISH__TOKENS: undefined });
    expect(result.code).toBe(0);
  });

  it('lists every problem with path, expectation and value, and exits 1', async () => {
    const file = await writeConfig('bad.yaml', 'server:\n  port: "http"\nstreams:\n  slowClient: wait\n  typo: 1\nhistory:\n  maxEvents: 0\n');
    const cli = runCli(['check-config', file]);
    expect(await cli.exited).toBe(1);
    const lines = cli
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('  '));
    expect(lines).toHaveLength(4);
    expect(cli.stderr()).toContain('server.port: expected number, got "http"');
    expect(cli.stderr()).toMatch(/streams\.slowClient: .*got "wait"/);
    expect(cli.stderr()).toContain('streams.typo: unknown key');
    expect(cli.stderr()).toMatch(/history\.maxEvents: .*got 0/);
  });
});

describe('sse-gateway publish', () => {
  it('exits 1 and shows the refusal for a wrong token, without the token', async () => {
    const { url } = await serve([], { SSEG_PUBLISH__TOKENS: 'the-right-token-0123456789' });
    const result = await runCliToEnd(['publish', '--url', url, '--token', 'the-wrong-token-0123456789', '--channel', 'c', 'x']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/publish refused \(401\).*SSEG_UNAUTHORIZED/);
    expect(result.stderr + result.stdout).not.toContain('the-wrong-token-0123456789');
  });

  it('takes the token from SSEG_TOKEN', async () => {
    const app = await capturePublishes();
    const result = await runCliToEnd(['publish', '--url', app.url, '--channel', 'c', 'x'], { SSEG_TOKEN: 'env-token-0123456789abcdef' });
    expect(result).toMatchObject({ code: 0, stdout: '{"id":"c-1"}\n' });
    expect(app.requests[0]?.headers.authorization).toBe('Bearer env-token-0123456789abcdef');
  });

  it('takes the token from --token-file (its trailing newline dropped), before SSEG_TOKEN', async () => {
    const app = await capturePublishes();
    const file = await writeConfig('token.txt', 'file-token-0123456789abcdef\n');
    const result = await runCliToEnd(['publish', '--url', app.url, '--token-file', file, '--channel', 'c', '--id-only', 'x'], {
      SSEG_TOKEN: 'env-token-0123456789abcdef',
    });
    expect(result).toMatchObject({ code: 0, stdout: 'c-1\n' });
    expect(app.requests[0]?.headers.authorization).toBe('Bearer file-token-0123456789abcdef');
  });

  it('exits 2 without a token from anywhere, and when given two', async () => {
    const app = await capturePublishes();
    const none = await runCliToEnd(['publish', '--url', app.url, '--channel', 'c', 'x'], { SSEG_TOKEN: undefined });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no publish token: set SSEG_TOKEN, or give --token-file FILE or --token TOKEN/);
    const file = await writeConfig('token-two.txt', 'file-token-0123456789abcdef\n');
    const both = await runCliToEnd(['publish', '--url', app.url, '--token', 'flag-token-0123456789', '--token-file', file, '--channel', 'c', 'x']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/either --token or --token-file/);
    expect(app.requests).toHaveLength(0);
  });

  it('exits 1 for a token file it cannot use, naming the file and never its content', async () => {
    const app = await capturePublishes();
    const missing = await runCliToEnd(['publish', '--url', app.url, '--token-file', join(dir, 'absent.txt'), '--channel', 'c', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--token-file .*absent\.txt: cannot be read \(ENOENT\)/);
    const empty = await runCliToEnd(['publish', '--url', app.url, '--token-file', await writeConfig('empty.txt', '\n'), '--channel', 'c', 'x']);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/empty\.txt: is empty/);
    // Two lines (a key file, not a token): refused before fetch would quote the header it cannot send.
    const pem = await runCliToEnd([
      'publish',
      '--url',
      app.url,
      '--token-file',
      await writeConfig('two-lines.txt', 'line-one-s3cr3t\nline-two-s3cr3t\n'),
      '--channel',
      'c',
      'x',
    ]);
    expect(pem.code).toBe(1);
    expect(pem.stderr).toMatch(/the token holds characters a header cannot carry/);
    expect(pem.stderr).not.toContain('s3cr3t');
    expect(app.requests).toHaveLength(0);
  });

  it('sends DATA as a string, and with --json as the JSON value it parses to', async () => {
    const app = await capturePublishes();
    const token = { SSEG_TOKEN: 'env-token-0123456789abcdef' };
    expect((await runCliToEnd(['publish', '--url', app.url, '--channel', 'c', '{"n":1}'], token)).code).toBe(0);
    expect((await runCliToEnd(['publish', '--url', app.url, '--channel', 'c', '--json', '{"n":1,"tags":["a"]}'], token)).code).toBe(0);
    expect((await runCliToEnd(['publish', '--url', app.url, '--channel', 'c', '--json', '42'], token)).code).toBe(0);
    expect(app.requests.map((request) => (JSON.parse(request.body) as { data: unknown }).data)).toEqual(['{"n":1}', { n: 1, tags: ['a'] }, 42]);
  });

  it('refuses DATA that is not JSON with --json as a usage error naming the problem, sending nothing', async () => {
    const app = await capturePublishes();
    const result = await runCliToEnd(['publish', '--url', app.url, '--channel', 'c', '--json', '{"n":'], { SSEG_TOKEN: 'env-token-0123456789abcdef' });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--json: DATA is not valid JSON \(.*JSON.*\)/);
    expect(result.stderr).not.toContain('env-token-0123456789abcdef');
    expect(app.requests).toHaveLength(0);
  });

  it('--json reaches subscribers as the value: a JSON string arrives unquoted', async () => {
    const token = 'json-token-0123456789abcdef';
    const { url } = await serve([], { SSEG_PUBLISH__TOKENS: token });
    const client = await openStream(`${url}/events/j`);
    cleanups.push(() => client.close());
    await client.waitFor((c) => c.raw().length > 0);
    expect((await runCliToEnd(['publish', '--url', url, '--channel', 'j', '--json', '"quoted"'], { SSEG_TOKEN: token })).code).toBe(0);
    expect((await runCliToEnd(['publish', '--url', url, '--channel', 'j', '"quoted"'], { SSEG_TOKEN: token })).code).toBe(0);
    expect((await runCliToEnd(['publish', '--url', url, '--channel', 'j', '--json', '{"n":1}'], { SSEG_TOKEN: token })).code).toBe(0);
    await client.waitForEvents(3);
    expect(client.events.map((event) => event.data)).toEqual(['quoted', '"quoted"', '{"n":1}']);
  });

  it('says why it could not connect (ECONNREFUSED and the address, not "fetch failed"), without the token', async () => {
    const port = await closedPort();
    const result = await runCliToEnd(['publish', '--url', `http://127.0.0.1:${port}`, '--channel', 'c', 'x'], { SSEG_TOKEN: 'env-token-0123456789abcdef' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
    expect(result.stderr).not.toMatch(/fetch failed/);
    expect(result.stderr).not.toContain('env-token-0123456789abcdef');
  });

  it('exits 2 for a --token or SSEG_TOKEN a header cannot carry, without echoing it', async () => {
    const app = await capturePublishes();
    const flag = await runCliToEnd(['publish', '--url', app.url, '--token', 'flag s3cr3t', '--channel', 'c', 'x']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--token: the token holds characters a header cannot carry/);
    const variable = await runCliToEnd(['publish', '--url', app.url, '--channel', 'c', 'x'], { SSEG_TOKEN: 'env\ts3cr3t' });
    expect(variable.code).toBe(2);
    expect(variable.stderr).toMatch(/SSEG_TOKEN: the token holds characters a header cannot carry/);
    expect(flag.stderr + variable.stderr).not.toContain('s3cr3t');
    expect(app.requests).toHaveLength(0);
  });

  it('refuses a --url that is not http(s), or that carries credentials (without echoing them)', async () => {
    const bare = await runCliToEnd(['publish', '--url', 'localhost:8080', '--token', 'flag-token-0123456789', '--channel', 'c', 'x']);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/--url: expected an http:\/\/ or https:\/\/ URL/);
    const credentials = await runCliToEnd([
      'publish',
      '--url',
      'http://app:url-s3cr3t@127.0.0.1:8080',
      '--token',
      'flag-token-0123456789',
      '--channel',
      'c',
      'x',
    ]);
    expect(credentials.code).toBe(2);
    expect(credentials.stderr).toMatch(/--url must not carry credentials/);
    expect(credentials.stderr).not.toContain('url-s3cr3t');
  });
});

describe('exit codes', () => {
  it.each([
    ['an unknown flag', ['serve', '--bogus'], /unknown option '--bogus'/],
    ['a bad flag value', ['serve', '--port', 'eighty'], /argument 'eighty' is invalid\. expected a port number/],
    ['a port out of range', ['serve', '--port', '70000'], /expected a port number from 0 to 65535/],
    ['a missing argument', ['check-config'], /missing required argument 'file'/],
    ['a missing required flag', ['publish', '--url', 'http://127.0.0.1:8080', 'x'], /required option '--channel <channel>' not specified/],
    ['missing DATA', ['publish', '--url', 'http://127.0.0.1:8080', '--channel', 'c'], /missing required argument 'data'/],
    ['an extra argument', ['check-config', 'a.yaml', 'b.yaml'], /too many arguments/],
    ['an unknown command', ['srve'], /unknown command 'srve'/],
    ['no command', [], /Usage: sse-gateway/],
  ])('exits 2 for a usage error: %s', async (_what, args, message) => {
    const result = await runCliToEnd(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it.each([[['--help']], [['help', 'publish']], [['publish', '--help']]])('exits 0 for help: %j', async (args) => {
    const result = await runCliToEnd(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/Usage: sse-gateway/);
  });

  it("documents publish's token sources in its help", async () => {
    const { stdout } = await runCliToEnd(['publish', '--help']);
    expect(stdout).toMatch(/--token-file <file>/);
    expect(stdout).toMatch(/--json/);
    expect(stdout).toMatch(/SSEG_TOKEN/);
  });

  it('exits 1 when it cannot listen, naming the address and why', async () => {
    const holder = createTcpServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => holder.close(resolve)));
    const { port } = holder.address() as AddressInfo;
    const result = await runCliToEnd(['serve', '--host', '127.0.0.1', '--port', String(port)], { SSEG_PUBLISH__TOKENS: 'listen-token-0123456789' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
  });

  it('exits 1 for a config file that cannot be read', async () => {
    const result = await runCliToEnd(['check-config', join(dir, 'nowhere.yaml')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/nowhere\.yaml: cannot be read \(ENOENT\)/);
  });

  it('refuses the placeholder token at start (serve exits 1 before listening)', async () => {
    const result = await runCliToEnd([
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--config',
      await writeConfig('serve-placeholder.yaml', 'publish:\n  tokens: [demo-publish-token-change-me]\n'),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/publish\.tokens\.0: is a placeholder from an example/);
    expect(result.stdout).not.toMatch(/"msg":"listening"/);
  });
});

interface CapturedRequest {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A stand-in publish endpoint on port 0 that records each request and answers like the gateway. */
async function capturePublishes(): Promise<{ url: string; requests: CapturedRequest[] }> {
  const requests: CapturedRequest[] = [];
  const server = createHttpServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      requests.push({ method: request.method, url: request.url, headers: request.headers, body });
      response.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ id: `c-${requests.length}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** A port nothing listens on: bound, read, released. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function writeConfig(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}
