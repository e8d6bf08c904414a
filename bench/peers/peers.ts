import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export type PeerName = 'ours' | 'nchan' | 'better-sse' | 'python';
export const PEER_NAMES: readonly PeerName[] = ['ours', 'nchan', 'better-sse', 'python'];

/** What every server under test is started with; each peer maps it onto its own flags. */
export interface LaunchOptions {
  readonly port: number;
  readonly heartbeatSeconds: number;
  readonly token: string;
  /** A fresh scratch directory for this one run (nginx prefix, logs). */
  readonly runDir: string;
  /** Ours only: write a V8 CPU profile here when the process exits. */
  readonly profile?: { dir: string; name: string };
  /** Ours only: the checkout whose src/ runs (default: this one), e.g. a git worktree of a given commit. */
  readonly oursTree?: string;
  /** Server processes: ours as streams.workers (on the Redis log at `redisUrl`), Nchan as nginx workers. The others are one process. */
  readonly workers: number;
  readonly redisUrl?: string;
}

export interface Launch {
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export interface PublishRequest {
  readonly path: string;
  readonly body: string;
  readonly contentType: string;
}

/** One server under test: how to find it, start it, subscribe to it and publish to it. */
export interface Peer {
  readonly name: PeerName;
  readonly label: string;
  /** Whether a client resumes by Last-Event-ID without loss; where false the storm measures the loss. */
  readonly resumes: boolean;
  /** Undefined when installed; otherwise how to install it. Never installs anything itself. */
  missing(): string | undefined;
  launch(options: LaunchOptions): Launch;
  publishRequest(channel: string, data: string): PublishRequest;
  /** The event id from the publish answer, for Last-Event-ID. */
  parseId(body: string): string;
}

const NODE = process.execPath;
const ROOT = new URL('../../', import.meta.url).pathname;
const PYTHON = '/usr/bin/python3';
const NGINX = '/usr/sbin/nginx';
const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

const jsonPublish = (channel: string, data: string): PublishRequest => ({
  path: '/publish',
  body: JSON.stringify({ channel, data }),
  contentType: 'application/json',
});
const jsonId = (body: string): string => (JSON.parse(body) as { id: string }).id;

const ours: Peer = {
  name: 'ours',
  label: 'sse-gateway',
  resumes: true,
  missing: () => undefined,
  launch: ({ port, heartbeatSeconds, token, profile, oursTree, workers, redisUrl }) => ({
    file: NODE,
    args: [
      ...(profile ? ['--cpu-prof', '--cpu-prof-dir', profile.dir, '--cpu-prof-name', profile.name] : []),
      join(oursTree ?? ROOT, 'src/cli/main.ts'),
      'serve',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ],
    env: {
      SSEG_PUBLISH__TOKENS: token,
      SSEG_STREAMS__HEARTBEAT: `${heartbeatSeconds}s`,
      // The default (10,000) is a production guard; the idle scenario holds more than that.
      SSEG_STREAMS__MAXCONNECTIONS: '100000',
      SSEG_SERVER__SHUTDOWNTIMEOUT: '2s',
      SSEG_LOG__LEVEL: 'warn',
      // Workers are instances on the shared Redis log (docs/architecture.md).
      ...(workers > 1 ? { SSEG_STREAMS__WORKERS: String(workers), SSEG_HISTORY__BACKEND: 'redis', SSEG_REDIS__URL: redisUrl ?? '' } : {}),
    },
  }),
  publishRequest: jsonPublish,
  parseId: jsonId,
};

const python: Peer = {
  name: 'python',
  label: 'seed design (FastAPI+uvicorn)',
  // Resumes from its replay list, but subscribes only after replaying: an event published in between can be lost (the storm checks).
  resumes: true,
  missing: () => {
    const probe = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn, uvloop, httptools'], { stdio: 'ignore' });
    return probe.status === 0 ? undefined : 'apt-get install python3-fastapi python3-uvicorn python3-uvloop python3-httptools';
  },
  launch: ({ port, heartbeatSeconds, token }) => ({
    file: PYTHON,
    args: [join(ROOT, 'bench/peers/python_sse.py'), '--port', String(port), '--heartbeat', String(heartbeatSeconds), '--token', token],
  }),
  publishRequest: jsonPublish,
  parseId: jsonId,
};

const nchan: Peer = {
  name: 'nchan',
  label: 'Nchan (nginx; as many workers as ours)',
  resumes: true,
  missing: () => (existsSync(NGINX) && existsSync(NCHAN_MODULE) ? undefined : 'apt-get install nginx libnginx-mod-nchan'),
  launch: ({ port, heartbeatSeconds, token, runDir, workers }) => {
    const config = readFileSync(join(ROOT, 'bench/peers/nchan.conf'), 'utf8')
      .replaceAll('@PREFIX@', runDir)
      .replaceAll('@PORT@', String(port))
      .replaceAll('@HEARTBEAT@', String(heartbeatSeconds))
      .replaceAll('@TOKEN@', token)
      .replaceAll('@WORKERS@', String(workers));
    mkdirSync(join(runDir, 'logs'), { recursive: true });
    writeFileSync(join(runDir, 'nginx.conf'), config);
    return { file: NGINX, args: ['-p', runDir, '-c', join(runDir, 'nginx.conf'), '-g', 'daemon off;'] };
  },
  publishRequest: (channel, data) => ({ path: `/publish?channel=${encodeURIComponent(channel)}`, body: data, contentType: 'text/plain' }),
  parseId: (body) => (JSON.parse(body) as { last_message_id: string }).last_message_id,
};

const betterSse: Peer = {
  name: 'better-sse',
  label: 'better-sse (node:http)',
  resumes: false,
  missing: () => {
    try {
      createRequire(import.meta.url).resolve('better-sse');
      return undefined;
    } catch {
      return 'npm install (better-sse is a devDependency)';
    }
  },
  launch: ({ port, heartbeatSeconds, token }) => ({
    file: NODE,
    args: [join(ROOT, 'bench/peers/better-sse.ts'), '--port', String(port), '--heartbeat', String(heartbeatSeconds * 1000), '--token', token],
  }),
  publishRequest: jsonPublish,
  parseId: jsonId,
};

export const PEERS: Readonly<Record<PeerName, Peer>> = { ours, nchan, 'better-sse': betterSse, python };
