import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText, resolveConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { startGateway, TEST_TOKEN } from '../support/gateway.ts';
import { NGINX_TEMPLATE, renderTemplate, startNginx, TEMPLATE_VARIABLES } from '../support/nginx.ts';
import { startRedis } from '../support/redis.ts';
import { openStream } from '../support/sse-client.ts';
import { launchChromium } from '../support/browser.ts';

/**
 * There is no container engine on the machines that run this suite, so the Dockerfile, the
 * compose file and the Kubernetes manifests are checked statically: every file they name exists
 * and reaches the build, every config they carry validates against the live schema, and the
 * ports, paths and timings they repeat agree with each other and with the gateway's routes.
 * The demo app they run is started for real against a real gateway.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

/** The gateway's own fixed routes, next to the configurable ones read from each config. */
const HEALTH = '/healthz';
const READY = '/readyz';

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  keyword: string;
  args: string;
  /** Index of the FROM stage the instruction belongs to. */
  stage: number;
}

interface Stage {
  base: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Enough of the Dockerfile grammar for these checks: comments, line continuations, stages. */
function parseDockerfile(text: string): Stage[] {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (current === '' && /^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim());
    current = '';
  }
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const [, base = '', name] = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args) ?? [];
      stages.push({ base, name, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) continue; // parser directives and ARGs before the first FROM
    stage.instructions.push({ keyword: upper, args, stage: stages.length - 1 });
  }
  return stages;
}

/** `COPY [--flag=...] src... dest` → flags, sources, destination. */
function parseCopy(args: string): { from: string | undefined; sources: string[]; dest: string } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const flags = words.filter((word) => word.startsWith('--'));
  const paths = words.filter((word) => !word.startsWith('--'));
  const from = flags.find((flag) => flag.startsWith('--from='))?.slice('--from='.length);
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/** `.dockerignore` semantics for the patterns it uses here: `*`, and `!path` or `!dir/` re-including a path and what is below it. */
function dockerIgnored(path: string, rules: string[]): boolean {
  let ignored = false;
  for (const rule of rules) {
    const negated = rule.startsWith('!');
    const pattern = (negated ? rule.slice(1) : rule).replace(/\/$/, '');
    const matches = pattern === '*' || path === pattern || path.startsWith(`${pattern}/`);
    if (matches) ignored = !negated;
  }
  return ignored;
}

/** Every .ts file under `dir`, relative to the repo root. */
function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => posix.join(dir, file.split('\\').join('/')));
}

function jsonArgs(args: string): string[] {
  expect(args.startsWith('['), `exec form expected: ${args}`).toBe(true);
  return JSON.parse(args) as string[];
}

describe('Dockerfile', () => {
  const stages = parseDockerfile(read('Dockerfile'));
  const ignoreRules = read('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const runtime = stages.at(-1);
  const last = (keyword: string): Instruction | undefined => runtime?.instructions.filter((i) => i.keyword === keyword).at(-1);

  it('builds in stages on Node 24, dependencies first', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.base).toMatch(/^node:24(-|$)/);
    const deps = stages[0];
    expect(deps?.instructions.some((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args) && /--omit=dev\b/.test(i.args))).toBe(true);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const names = new Set(stages.map((stage) => stage.name).filter((name) => name !== undefined));
    let copies = 0;
    for (const instruction of stages.flatMap((stage) => stage.instructions)) {
      if (instruction.keyword !== 'COPY' && instruction.keyword !== 'ADD') continue;
      const copy = parseCopy(instruction.args);
      if (copy.from !== undefined) {
        expect(names.has(copy.from), `COPY --from=${copy.from} names a stage`).toBe(true);
        expect(names.has(copy.from) && stages.findIndex((stage) => stage.name === copy.from) < instruction.stage).toBe(true);
        continue;
      }
      for (const source of copy.sources) {
        copies += 1;
        const path = posix.normalize(source).replace(/\/$/, '');
        expect(existsSync(join(ROOT, path)), `${source} exists`).toBe(true);
        expect(dockerIgnored(path, ignoreRules), `${source} is not excluded by .dockerignore`).toBe(false);
      }
    }
    expect(copies).toBeGreaterThan(0);
    // And what must never reach the builder does not.
    for (const path of ['node_modules', '.git', 'test', 'deploy/kubernetes', '.env']) expect(dockerIgnored(path, ignoreRules)).toBe(true);
  });

  it('needs nothing from devDependencies at run time, so `npm ci --omit=dev` is enough', () => {
    const manifest = JSON.parse(read('package.json')) as { dependencies?: Record<string, string> };
    const production = new Set(Object.keys(manifest.dependencies ?? {}));
    const imported = new Map<string, string>();
    for (const file of sourceFiles('src')) {
      for (const match of read(file).matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const specifier = match[1] ?? match[2] ?? '';
        if (specifier.startsWith('.') || specifier.startsWith('node:')) continue;
        // 'pkg/sub' and '@scope/pkg/sub' belong to 'pkg' and '@scope/pkg'.
        const name = specifier
          .split('/')
          .slice(0, specifier.startsWith('@') ? 2 : 1)
          .join('/');
        imported.set(name, file);
      }
    }
    expect(imported.size).toBeGreaterThan(0);
    for (const [name, file] of imported) expect(production.has(name), `${file} imports ${name}, which is not in "dependencies"`).toBe(true);
  });

  it('runs as a non-root user, under an init, the sources as they are', () => {
    const user = last('USER')?.args.split(':')[0];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    const entrypoint = jsonArgs(last('ENTRYPOINT')?.args ?? '');
    const command = [...entrypoint, ...jsonArgs(last('CMD')?.args ?? '')];
    expect(entrypoint[0]).toMatch(/tini$/);
    expect(runtime?.instructions.some((i) => i.keyword === 'RUN' && /apt-get install[^&]*\btini\b/.test(i.args))).toBe(true);
    expect(command).toEqual(['/usr/bin/tini', '--', 'node', 'src/cli/main.ts', 'serve', '--config', '/etc/sse-gateway/gateway.yaml']);
    expect(existsSync(join(ROOT, 'src/cli/main.ts'))).toBe(true);
  });

  it('bakes in a default config that validates and listens where EXPOSE and HEALTHCHECK say', () => {
    const copy = runtime?.instructions
      .map((i) => (i.keyword === 'COPY' ? parseCopy(i.args) : undefined))
      .find((c) => c?.dest === '/etc/sse-gateway/gateway.yaml');
    expect(copy?.sources).toHaveLength(1);
    const config = resolveConfig(parseConfigText(read(copy?.sources[0] ?? '')));
    expect(config.server.host).toBe('0.0.0.0');
    expect(last('EXPOSE')?.args).toBe(String(config.server.port));
    const healthcheck = last('HEALTHCHECK')?.args ?? '';
    expect(healthcheck).toMatch(/CMD \["node", "-e"/);
    expect(healthcheck).not.toMatch(/\bcurl\b|\bwget\b/);
    expect(healthcheck).toContain(`|| ${config.server.port}) + '${HEALTH}'`);
  });
});

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
  working_dir?: string;
}

/** What an operator exports before `docker compose up`: compose refuses to start without a publish token. */
const COMPOSE_ENV: Readonly<Record<string, string>> = { PUBLISH_TOKEN: 'compose-test-token-0123456789abcdef' };

/** Compose's own interpolation: `${VAR}`, `${VAR:-default}`, and `${VAR:?message}`, which fails when VAR is unset. */
function composeDefaults(value: string, env: Readonly<Record<string, string>> = COMPOSE_ENV): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?])([^}]*))?\}/g, (_match, name: string, kind: string | undefined, word: string | undefined) => {
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (kind === '?') throw new Error(`compose would refuse to start: ${name} is unset (${word ?? ''})`);
    return word ?? '';
  });
}

function seconds(duration: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(duration);
  if (match === null) throw new Error(`not a duration: ${duration}`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value / 1000 : match[2] === 'm' ? value * 60 : value;
}

describe('docker-compose.yml', () => {
  const compose = parseYaml(composeDefaults(read('docker-compose.yml'))) as { services: Record<string, ComposeService> };
  const services = compose.services;
  const service = (name: string): ComposeService => {
    const found = services[name];
    if (found === undefined) throw new Error(`docker-compose.yml has no service ${name}`);
    return found;
  };
  const mounts = (name: string): Array<{ source: string; target: string }> =>
    (service(name).volumes ?? []).map((volume) => {
      const [source = '', target = ''] = volume.split(':');
      return { source, target };
    });
  const gatewayConfig = (): Readonly<Config> => {
    const mount = mounts('gateway').find((m) => m.target === '/etc/sse-gateway/gateway.yaml');
    expect(mount, 'the gateway config is mounted where the image reads it').toBeDefined();
    return resolveConfig(parseConfigText(read(mount?.source ?? '')), service('gateway').environment);
  };

  it('runs redis, the gateway, nginx and the demo app, each dependency a service it defines', () => {
    expect(Object.keys(services).sort()).toEqual(['app', 'gateway', 'nginx', 'redis']);
    for (const [name, definition] of Object.entries(services)) {
      for (const dependency of Object.keys(definition.depends_on ?? {})) expect(services[dependency], `${name} depends on ${dependency}`).toBeDefined();
    }
    const build = service('gateway').build;
    expect(build?.context).toBe('.');
    expect(existsSync(join(ROOT, build?.context ?? '', build?.dockerfile ?? 'Dockerfile'))).toBe(true);
  });

  it('mounts only files and folders that exist', () => {
    let count = 0;
    for (const name of Object.keys(services)) {
      for (const { source } of mounts(name)) {
        expect(source.startsWith('./'), `${name}: ${source} is a bind mount from the repo`).toBe(true);
        expect(existsSync(join(ROOT, source)), `${name}: ${source} exists`).toBe(true);
        count += 1;
      }
    }
    expect(count).toBeGreaterThanOrEqual(4);
  });

  it('gives the gateway a config that validates against the live schema and uses the redis service', () => {
    const config = gatewayConfig();
    expect(config.publish.tokens).toEqual([service('gateway').environment?.['PUBLISH_TOKEN']]);
    expect(config.history.backend).toBe('redis');
    const redis = new URL(config.redis.url);
    expect(services[redis.hostname]?.image).toMatch(/^redis:/);
    expect(redis.port || '6379').toBe('6379');
    expect(service('gateway').expose).toContain(String(config.server.port));
    // The grace period outlasts the drain, or Docker kills streams before they are told to reconnect.
    expect(seconds(service('gateway').stop_grace_period ?? '10s')).toBeGreaterThan(config.server.shutdownTimeout / 1000);
  });

  it('gives the demo app the gateway address and the same publish token', () => {
    const config = gatewayConfig();
    const app = service('app');
    const env = app.environment ?? {};
    expect(new URL(env['GATEWAY_URL'] ?? '').host).toBe(`gateway:${config.server.port}`);
    expect(env['PUBLISH_TOKEN']).toBe(config.publish.tokens[0]);
    expect(app.image).toMatch(/^node:24(-|$)/);
    const source = mounts('app').find((m) => m.target === app.working_dir)?.source ?? '';
    expect(existsSync(join(ROOT, source, app.command?.at(-1) ?? ''))).toBe(true);
    expect(app.expose).toContain(env['PORT']);
  });

  it('renders the nginx template with every variable it needs, pointing at the gateway and the app', () => {
    const config = gatewayConfig();
    const nginx = service('nginx');
    const env = nginx.environment ?? {};
    expect(Object.keys(env).sort()).toEqual([...TEMPLATE_VARIABLES].sort());
    const template = mounts('nginx').find((m) => m.target.startsWith('/etc/nginx/templates/'));
    expect(template?.target).toMatch(/\.template$/);
    expect(join(ROOT, template?.source ?? '')).toBe(NGINX_TEMPLATE);
    const rendered = renderTemplate(readFileSync(NGINX_TEMPLATE, 'utf8'), env);
    expect(rendered).toContain(`server gateway:${config.server.port};`);
    expect(rendered).toContain(`server app:${service('app').environment?.['PORT']};`);
    for (const path of [config.streams.path]) expect(rendered).toContain(`location ${path} {`);
    for (const path of [config.publish.path, config.auth.ticket.path, config.metrics.path, HEALTH, READY]) expect(rendered).toContain(`location = ${path} {`);
    // The container's output, where `docker compose logs` reads it; a file there would grow unseen.
    expect(env['ACCESS_LOG']).toBe('/dev/stdout');
    // The certificate and key live in the mounted folder, which make-cert.sh fills.
    const tls = mounts('nginx').find((m) => env['TLS_CERT']?.startsWith(`${m.target}/`));
    expect(tls?.source).toBe('./deploy/compose/tls');
    expect(read('deploy/compose/make-cert.sh')).toContain('"$dir/cert.pem"');
    // What the host publishes reaches the two listeners.
    const published = (nginx.ports ?? []).map((port) => port.split(':').at(-1));
    expect(published.sort()).toEqual([env['HTTP_LISTEN'], env['HTTPS_LISTEN']].sort());
  });
});

// ---------------------------------------------------------------------------------------------
// Kubernetes

interface Probe {
  httpGet: { path: string; port: string | number };
}

interface Container {
  name: string;
  args: string[];
  ports: Array<{ name: string; containerPort: number }>;
  env: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
  readinessProbe: Probe;
  livenessProbe: Probe;
  lifecycle: { preStop: { exec: { command: string[] } } };
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean };
}

interface Manifest {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    ports?: Array<{ name: string; port: number; targetPort: string | number }>;
    template?: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        securityContext: { runAsNonRoot: boolean; runAsUser: number };
        containers: Container[];
        volumes: Array<{ name: string; configMap?: { name: string } }>;
      };
    };
    podMetricsEndpoints?: Array<{ port: string; path: string }>;
  };
}

describe('deploy/kubernetes', () => {
  const dir = 'deploy/kubernetes';
  const files = ['configmap.yaml', 'deployment.yaml', 'service.yaml', 'podmonitor.yaml'];
  const manifests: Manifest[] = files.flatMap((file) =>
    parseAllDocuments(read(`${dir}/${file}`)).map((document) => {
      expect(document.errors, file).toEqual([]);
      return document.toJS() as Manifest;
    }),
  );
  const byKind = (kind: string): Manifest => {
    const found = manifests.find((manifest) => manifest.kind === kind);
    if (found === undefined) throw new Error(`no ${kind} in ${dir}`);
    return found;
  };
  const deployment = byKind('Deployment');
  const pod = deployment.spec?.template;
  const container = pod?.spec.containers[0];
  const configPath = container?.args[container.args.indexOf('--config') + 1] ?? '';
  const config = (): Readonly<Config> => {
    const mount = container?.volumeMounts.find((m) => configPath.startsWith(`${m.mountPath}/`));
    const volume = pod?.spec.volumes.find((v) => v.name === mount?.name);
    const configMap = byKind('ConfigMap');
    expect(volume?.configMap?.name).toBe(configMap.metadata.name);
    const text = configMap.data?.[posix.basename(configPath)];
    expect(text, `the ConfigMap has ${posix.basename(configPath)}`).toBeDefined();
    // The environment the container gets, with a stand-in for the Secret's value.
    const env = Object.fromEntries((container?.env ?? []).map((e) => [e.name, e.valueFrom?.secretKeyRef ? 'a-secret-publish-token-0123456789' : '']));
    return resolveConfig(parseConfigText(text ?? ''), env);
  };

  it('lists every manifest but the optional PodMonitor in kustomization.yaml', () => {
    const kustomization = parseYaml(read(`${dir}/kustomization.yaml`)) as { resources: string[] };
    expect(kustomization.resources.sort()).toEqual(files.filter((file) => file !== 'podmonitor.yaml').sort());
  });

  it('carries a gateway config that validates against the live schema, token from a Secret', () => {
    const valid = config();
    expect(valid.publish.tokens).toEqual(['a-secret-publish-token-0123456789']);
    expect(container?.env.find((e) => e.name === 'SSEG_PUBLISH__TOKENS')?.valueFrom?.secretKeyRef?.key).toBe('publish-token');
    expect(valid.history.backend).toBe('redis');
    // The built-in demo page publishes without a token; a production config turns it off.
    expect(valid.demo.enabled).toBe(false);
  });

  it('probes readiness on /readyz and liveness on /healthz, on the port the gateway listens on', () => {
    const port = container?.ports.find((p) => p.containerPort === config().server.port);
    expect(port, 'a named container port for server.port').toBeDefined();
    expect(container?.readinessProbe.httpGet).toEqual({ path: READY, port: port?.name });
    expect(container?.livenessProbe.httpGet).toEqual({ path: HEALTH, port: port?.name });
  });

  it('gives the drain time to finish: grace period > preStop sleep + server.shutdownTimeout', () => {
    const [command, seconds] = container?.lifecycle.preStop.exec.command ?? [];
    expect(command).toBe('sleep');
    const preStop = Number(seconds);
    expect(preStop).toBeGreaterThan(0);
    expect(pod?.spec.terminationGracePeriodSeconds).toBeGreaterThan(preStop + config().server.shutdownTimeout / 1000);
  });

  it('runs as non-root, read-only, without privilege escalation', () => {
    expect(pod?.spec.securityContext.runAsNonRoot).toBe(true);
    expect(pod?.spec.securityContext.runAsUser).not.toBe(0);
    expect(container?.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
  });

  it('selects its pods in the Service and the PodMonitor, and scrapes the metrics path on the metrics port', () => {
    const labels = pod?.metadata.labels ?? {};
    expect(deployment.spec?.selector?.matchLabels).toEqual(labels);
    const service = byKind('Service');
    for (const [key, value] of Object.entries(service.spec?.selector ?? {})) expect(labels[key]).toBe(value);
    const portNames = new Set(container?.ports.map((p) => p.name));
    for (const port of service.spec?.ports ?? []) expect(portNames.has(String(port.targetPort))).toBe(true);

    const valid = config();
    const monitor = byKind('PodMonitor');
    for (const [key, value] of Object.entries(monitor.spec?.selector?.matchLabels ?? {})) expect(labels[key]).toBe(value);
    expect(monitor.spec?.podMetricsEndpoints?.map((e) => [e.port, e.path])).toEqual([['http', valid.metrics.path]]);
    expect(pod?.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(valid.server.port),
      'prometheus.io/path': valid.metrics.path,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The configs above would fail these checks if they were wrong: the schema is strict.

describe('config validation used above', () => {
  it('refuses an unknown key, so a stale deploy config cannot pass', () => {
    expect(() => resolveConfig(parseConfigText('server:\n  hots: 0.0.0.0\n'))).toThrow(ConfigError);
  });
});

// ---------------------------------------------------------------------------------------------
// The demo app, for real

describe('examples/demo-app', () => {
  const apps: DemoApp[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
  });

  it('serves a page that subscribes through the gateway and publishes with its token from the server side', async () => {
    const gateway = await startGateway({ log: { level: 'warn' } });
    try {
      const app = startDemoApp({ PORT: '0', GATEWAY_URL: gateway.url, PUBLISH_TOKEN: TEST_TOKEN, CHANNEL: 'demo' });
      apps.push(app);
      const port = await app.port;
      const origin = `http://127.0.0.1:${port}`;

      const page = await (await fetch(`${origin}/`)).text();
      expect(page).toContain("new EventSource('/events/demo')");
      expect(page).not.toContain(TEST_TOKEN);

      const client = await openStream(`${gateway.url}/events/demo`);
      try {
        const sent = await fetch(`${origin}/send`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'hi' }) });
        expect(sent.status).toBe(200);
        const [event] = await client.waitForEvents(1);
        expect(JSON.parse(event?.data ?? '{}')).toMatchObject({ text: 'hi' });
      } finally {
        client.close();
      }
    } finally {
      await gateway.close();
    }
  });
});

describe('the compose demo, assembled on loopback as docker-compose.yml assembles it', () => {
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('a browser loads the page through nginx, subscribes, and sees what its button published', async () => {
    const compose = parseYaml(composeDefaults(read('docker-compose.yml'))) as { services: Record<string, ComposeService> };
    const gatewayService = compose.services['gateway'];
    const token = gatewayService?.environment?.['PUBLISH_TOKEN'] ?? '';
    const mount = gatewayService?.volumes?.find((volume) => volume.endsWith(':/etc/sse-gateway/gateway.yaml:ro'))?.split(':')[0] ?? '';
    const raw = parseConfigText(read(mount)) as { redis: { url: string } };

    // The compose services, on loopback: the compose Redis is a redis-server of this test's own.
    const redis = await startRedis();
    closers.push(() => redis.stop());
    const composeConfig = resolveConfig(raw, { PUBLISH_TOKEN: token });
    const gateway = await startGateway({
      ...structuredClone(raw),
      server: { host: '127.0.0.1', port: 0 },
      redis: { ...raw.redis, url: redis.url },
      publish: { tokens: composeConfig.publish.tokens },
      log: { level: 'warn' },
    });
    closers.push(() => gateway.close());
    expect(gateway.config.history.backend).toBe('redis');
    const appEnv = compose.services['app']?.environment ?? {};
    const app = startDemoApp({ ...appEnv, PORT: '0', GATEWAY_URL: gateway.url });
    closers.push(() => app.stop());
    const appPort = await app.port;
    const nginx = await startNginx({ gatewayAddr: new URL(gateway.url).host, appAddr: `127.0.0.1:${appPort}` });
    closers.push(() => nginx.stop());

    const browser = await launchChromium();
    closers.push(() => browser.close());
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${nginx.httpUrl}/`);
    await page.locator('#state', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
    await page.fill('#text', 'pressed in a browser');
    await page.click('#send');
    const item = page.locator('#log li').first();
    await item.waitFor({ timeout: 10_000 });
    expect(await item.textContent()).toContain('"text":"pressed in a browser"');
    // What the page showed was logged in the compose Redis, and the browser never held the token.
    expect(Number(await redis.cli('DBSIZE'))).toBeGreaterThan(0);
    expect(await page.content()).not.toContain(token);
    expect(problems).toEqual([]);
  }, 60_000);
});

/** The demo app as a child process on the same Node as the tests; resolves once it says where it listens. */
function startDemoApp(env: Record<string, string>): DemoApp {
  const entry = join(ROOT, 'examples/demo-app/server.ts');
  const child = spawn(process.execPath, [entry], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo app did not start: ${output}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on port (\d+)/.exec(output);
      if (match?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the demo app exited: ${output}`));
    });
  });
  return {
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

interface DemoApp {
  readonly port: Promise<string>;
  stop(): Promise<void>;
}
