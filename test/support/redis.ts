import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Runs redis-cli against this server and resolves with its output (trimmed). */
  cli(...args: string[]): Promise<string>;
  /** SIGKILL: no goodbye to clients, nothing saved on the way out (what AOF or a SAVE already wrote stays on disk). */
  kill(): Promise<void>;
  /**
   * Starts the server again on the same port and directory. Empty by default, as a replaced server
   * would be; with `keepData` it loads what is on disk (the AOF with --appendonly yes, else the
   * last SAVE's dump.rdb), as a crashed server restarted in place does.
   */
  restart(options?: { keepData?: boolean }): Promise<void>;
  /** Stops the server (SIGTERM) and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
}

/** A free TCP port on loopback (bound then released at once), at most `maxPort`. */
export async function freePort(maxPort = 65_535): Promise<number> {
  for (;;) {
    const port = await anyFreePort();
    if (port <= maxPort) return port;
  }
}

function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A real redis-server of this suite's own on a free port, in its own directory: no persistence
 * unless `extraArgs` turn it on (later arguments win), so a kill -9 and a restart give an empty
 * Redis, as a wiped or replaced instance would be. Never the machine's shared Redis on 6379.
 */
export async function startRedis(extraArgs: string[] = [], maxPort = 65_535): Promise<TestRedis> {
  let port = 0;
  let child: ChildProcess | undefined;
  // Its own directory: a replica's full sync writes dump.rdb to disk, which any later server started
  // in a shared directory would load at start, data and all.
  const dir = await mkdtemp(join(tmpdir(), 'sseg-redis-'));
  const exited = (process: ChildProcess): Promise<void> =>
    process.exitCode !== null || process.signalCode !== null ? Promise.resolve() : new Promise((resolve) => process.once('exit', () => resolve()));
  /** False when the port turned out to be taken (another suite raced us to it): our server is not the one answering. */
  const launch = async (): Promise<boolean> => {
    const spawned = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', ...extraArgs], {
      stdio: 'ignore',
    });
    child = spawned;
    if (await waitForOwnServer(port, spawned, 10_000)) return true;
    spawned.kill('SIGKILL');
    await exited(spawned);
    child = undefined;
    return false;
  };
  for (let attempt = 0; ; attempt += 1) {
    port = await freePort(maxPort);
    if (await launch()) break;
    if (attempt === 5) throw new Error('could not start redis-server on a free port');
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cli: (...args) => redisCli(port, args),
    async kill() {
      const current = child;
      if (current === undefined) return;
      child = undefined;
      current.kill('SIGKILL');
      await exited(current);
    },
    async restart({ keepData = false } = {}) {
      if (child !== undefined) throw new Error('redis-server is still running');
      if (!keepData) {
        // Empty, as a replaced server would be, even if a replica sync or a SAVE left a dump behind.
        await rm(join(dir, 'dump.rdb'), { force: true });
        await rm(join(dir, 'appendonlydir'), { recursive: true, force: true });
      }
      if (!(await launch())) throw new Error(`port ${port} was taken while redis-server was down`);
    },
    async stop() {
      const current = child;
      child = undefined;
      if (current !== undefined) {
        current.kill('SIGTERM');
        await exited(current);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function redisCli(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const cli = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    cli.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    cli.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    cli.on('error', reject);
    cli.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`redis-cli ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** Waits until `child` answers on `port`; false if it exited or another process answers there. */
async function waitForOwnServer(port: number, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const info = await redisCli(port, ['INFO', 'server']);
      return new RegExp(`^process_id:${child.pid}\\r?$`, 'm').test(info);
    } catch {
      // Not accepting yet.
    }
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await redisCli(port, ['PING'])) === 'PONG') return;
    } catch {
      // Not accepting yet.
    }
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface TestRedisCluster {
  /** host:port of every primary, for redis.nodes. */
  readonly nodes: string[];
  /** Runs redis-cli with `args` on every node; one output per node. */
  cliAll(...args: string[]): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * A real Redis Cluster of `size` primaries (no replicas) on loopback, each its own redis-server on a
 * free port, joined with `redis-cli --cluster create`. Resolves once the cluster reports ok.
 */
export async function startRedisCluster(size = 3): Promise<TestRedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'sseg-cluster-'));
  const servers: TestRedis[] = [];
  const stop = async (): Promise<void> => {
    for (const server of servers) await server.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < size; index += 1) {
      // The cluster bus listens on port + 10000, so the port must leave room for it.
      servers.push(
        await startRedis(['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${index}.conf`), '--cluster-node-timeout', '2000'], 55_535),
      );
    }
    const nodes = servers.map((server) => `127.0.0.1:${server.port}`);
    await new Promise<void>((resolve, reject) => {
      const create = spawn('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-yes'], { stdio: 'ignore' });
      create.on('error', reject);
      create.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create exited ${code}`))));
    });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const states = await Promise.all(servers.map((server) => server.cli('CLUSTER', 'INFO')));
      if (states.every((state) => state.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error('the cluster did not reach cluster_state:ok');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { nodes, stop, cliAll: (...args) => Promise.all(servers.map((server) => server.cli(...args))) };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface TestSentinel {
  /** host:port, for redis.sentinels. */
  readonly address: string;
  readonly port: number;
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

/** A real Redis Sentinel on a free port watching `masterPort` as `name`, quorum 1, quick to fail over. */
export async function startSentinel(masterPort: number, name = 'mymaster'): Promise<TestSentinel> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'sseg-sentinel-'));
  const file = join(dir, 'sentinel.conf');
  await writeFile(
    file,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor ${name} 127.0.0.1 ${masterPort} 1`,
      `sentinel down-after-milliseconds ${name} 1000`,
      `sentinel failover-timeout ${name} 5000`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' });
  await waitForPort(port, 10_000);
  return {
    port,
    address: `127.0.0.1:${port}`,
    cli: (...args) => redisCli(port, args),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface TestSentinelSet {
  readonly master: TestRedis;
  readonly replica: TestRedis;
  readonly sentinel: TestSentinel;
  /** Stops the sentinel first (so it does not fail over to what is stopping), then both servers. */
  stop(): Promise<void>;
}

/** A master, one replica of it and a Sentinel watching them as `mymaster`, each on a free port. */
export async function startSentinelSet(): Promise<TestSentinelSet> {
  const master = await startRedis();
  const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
  const sentinel = await startSentinel(master.port);
  return {
    master,
    replica,
    sentinel,
    async stop() {
      await sentinel.stop();
      await replica.stop();
      await master.stop();
    },
  };
}
