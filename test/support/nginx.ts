import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isListening } from './net.ts';

/** The production template, rendered as is for the tests: what is tested is what ships. */
export const NGINX_TEMPLATE = fileURLToPath(new URL('../../nginx/sse-gateway.conf.template', import.meta.url));

/** The placeholders nginx/sse-gateway.conf.template declares; docs/deployment.md lists the same. */
export const TEMPLATE_VARIABLES = [
  'GATEWAY_ADDR',
  'APP_ADDR',
  'HTTP_LISTEN',
  'HTTPS_LISTEN',
  'SERVER_NAME',
  'TLS_CERT',
  'TLS_KEY',
  'METRICS_ALLOW',
  'ACCESS_LOG',
] as const;

export type TemplateValues = Record<(typeof TEMPLATE_VARIABLES)[number], string>;

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Does what `envsubst '$GATEWAY_ADDR $APP_ADDR ...'` does: fills in the named placeholders and
 * leaves nginx's own `$variables` alone. Stricter than envsubst: a placeholder without a value,
 * or a value given for a placeholder the template lacks, is an error rather than an empty string.
 */
export function renderTemplate(template: string, values: Readonly<Record<string, string>>): string {
  const used = new Set<string>();
  const text = template.replace(PLACEHOLDER, (_match, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`nginx template: no value for \${${name}}`);
    used.add(name);
    return value;
  });
  const unused = Object.keys(values).filter((name) => !used.has(name));
  if (unused.length > 0) throw new Error(`nginx template: no placeholder for ${unused.join(', ')}`);
  return text;
}

export interface NginxOptions {
  /** host:port of the gateway. */
  gatewayAddr: string;
  /** host:port of the app that receives everything else. */
  appAddr: string;
  /** Only 127.0.0.1 unless told otherwise, so tests can show a refused scraper from 127.0.0.2. */
  metricsAllow?: string;
  /** Applied to the rendered config: for the negative controls that break it on purpose. */
  edit?: (rendered: string) => string;
}

export interface TestNginx {
  /** Plain HTTP/1.1 listener, e.g. http://127.0.0.1:41234 */
  readonly httpUrl: string;
  /** TLS listener (HTTP/2 and HTTP/1.1, self-signed certificate), e.g. https://127.0.0.1:41235 */
  readonly httpsUrl: string;
  /** The site config as nginx read it. */
  readonly config: string;
  /** What nginx wrote to stderr (its error log). */
  stderr(): string;
  /** The access log file (ACCESS_LOG) as it is now; nginx writes a line when a request ends. */
  accessLog(): Promise<string>;
  /** Fast shutdown of the master and its workers; resolves once the master has exited. */
  stop(): Promise<void>;
}

const run = promisify(execFile);

/** Debian's nginx binary; the package puts it in /usr/sbin, which a non-root PATH may lack. */
export async function nginxBinary(): Promise<string> {
  for (const candidate of ['/usr/sbin/nginx', '/usr/bin/nginx']) {
    try {
      await run(candidate, ['-v']);
      return candidate;
    } catch {
      // try the next
    }
  }
  throw new Error('nginx is not installed: run `sh scripts/test-deps.sh` (Debian package nginx)');
}

/**
 * Debian's nginx, as a child of the test process, in a private prefix directory: its own pid
 * file, temp paths and logs, loopback ports picked free, and a throwaway self-signed certificate.
 * The main config around the site config sets what an operator's http { } might: gzip on for
 * text/event-stream among others, so the site config has to be the thing that turns it off, and
 * the stock `combined` access log, so the site config has to be the thing that replaces it.
 */
export async function startNginx(options: NginxOptions): Promise<TestNginx> {
  const binary = await nginxBinary();
  const dir = await mkdtemp(join(tmpdir(), 'sseg-nginx-'));
  // nginx's workers drop to an unprivileged user when started as root; they must reach the temp paths.
  await chmod(dir, 0o755);
  try {
    await makeCertificate(dir);
    const template = await readFile(NGINX_TEMPLATE, 'utf8');
    for (let attempt = 1; ; attempt += 1) {
      const [httpPort = 0, httpsPort = 0] = await freePorts(2);
      const values: TemplateValues = {
        GATEWAY_ADDR: options.gatewayAddr,
        APP_ADDR: options.appAddr,
        HTTP_LISTEN: `127.0.0.1:${httpPort}`,
        HTTPS_LISTEN: `127.0.0.1:${httpsPort}`,
        SERVER_NAME: 'localhost',
        TLS_CERT: join(dir, 'cert.pem'),
        TLS_KEY: join(dir, 'key.pem'),
        METRICS_ALLOW: options.metricsAllow ?? '127.0.0.1',
        ACCESS_LOG: join(dir, ACCESS_LOG_FILE),
      };
      const rendered = renderTemplate(template, values);
      const config = options.edit ? options.edit(rendered) : rendered;
      await writeFile(join(dir, 'sse-gateway.conf'), config);
      await writeFile(join(dir, 'nginx.conf'), mainConfig(dir));
      try {
        return await launch(binary, dir, config, httpPort, httpsPort);
      } catch (error) {
        // Another process may have taken a port between picking and binding: pick again.
        if (attempt < 3 && error instanceof Error && /Address already in use/.test(error.message)) continue;
        throw error;
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

const ACCESS_LOG_FILE = 'access.log';

function mainConfig(dir: string): string {
  return `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 1024; }
http {
    client_body_temp_path ${join(dir, 'client_body')};
    proxy_temp_path ${join(dir, 'proxy')};
    fastcgi_temp_path ${join(dir, 'fastcgi')};
    uwsgi_temp_path ${join(dir, 'uwsgi')};
    scgi_temp_path ${join(dir, 'scgi')};
    # As Debian's nginx.conf has it: \`combined\` to the same file the site config is given, so
    # a site config that lost its own access_log would show the query strings it must not log.
    access_log ${join(dir, ACCESS_LOG_FILE)};
    default_type application/octet-stream;
    gzip on;
    gzip_min_length 1;
    gzip_types text/event-stream application/json text/plain;
    include ${join(dir, 'sse-gateway.conf')};
}
`;
}

async function launch(binary: string, dir: string, config: string, httpPort: number, httpsPort: number): Promise<TestNginx> {
  // -e: the compiled-in /var/log/nginx/error.log is opened before the config is read; stderr needs no permission.
  const child = spawn(binary, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => (running = false));

  const stop = async (): Promise<void> => {
    if (running) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitUntilListening(child, httpPort, () => stderr);
    await waitUntilListening(child, httpsPort, () => stderr);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    httpUrl: `http://127.0.0.1:${httpPort}`,
    httpsUrl: `https://127.0.0.1:${httpsPort}`,
    config,
    stderr: () => stderr,
    accessLog: async () => {
      try {
        return await readFile(join(dir, ACCESS_LOG_FILE), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
        throw error;
      }
    },
    stop,
  };
}

async function waitUntilListening(child: ChildProcess, port: number, stderr: () => string): Promise<void> {
  for (let tries = 0; tries < 200; tries += 1) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx exited: ${stderr()}`);
    if (await isListening(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nginx did not listen on ${port}: ${stderr()}`);
}

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function makeCertificate(dir: string): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
}
