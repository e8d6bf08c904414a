import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { accepts, freePort } from './server.ts';

export interface BenchRedis {
  readonly url: string;
  stop(): void;
}

/**
 * The Redis that ours shares its log through when it runs with workers: a redis-server of the
 * bench's own on a free loopback port, keeping nothing on disk. Missing: says how to install it.
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('--workers needs redis-server (apt-get install redis-server): the workers share their log through Redis');
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
    await sleep(50);
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => void child.kill('SIGTERM') };
}
