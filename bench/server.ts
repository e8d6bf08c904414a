import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LaunchOptions, Peer } from './peers/peers.ts';

/** A server under test, started fresh for one scenario run: a reused process would hide memory growth. */
export interface RunningServer {
  readonly peer: Peer;
  readonly port: number;
  readonly pid: number;
  /** Resident memory of the whole process tree (nginx master + worker), in bytes. */
  rss(): number;
  /** CPU time (user + system) the whole process tree has used so far, in seconds. */
  cpuSeconds(): number;
  /** Whether the process is still running (a crash under load is a result, not an error). */
  alive(): boolean;
  stop(): Promise<void>;
}

export async function startServer(peer: Peer, options: Omit<LaunchOptions, 'port' | 'runDir'>): Promise<RunningServer> {
  const port = await freePort();
  const runDir = mkdtempSync(join(tmpdir(), `sseg-bench-${peer.name}-`));
  const launch = peer.launch({ ...options, port, runDir });
  const child = spawn(launch.file, launch.args, {
    env: { ...process.env, ...launch.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${peer.name}: could not start ${launch.file}`);

  const deadline = Date.now() + 15_000;
  while (!(await accepts(port))) {
    if (exited || Date.now() > deadline) {
      child.kill('SIGKILL');
      rmSync(runDir, { recursive: true, force: true });
      throw new Error(`${peer.name} did not start listening on ${port}: ${stderr.trim() || 'no output'}`);
    }
    await sleep(100);
  }

  return {
    peer,
    port,
    pid,
    rss: () => sumOverTree(pid, rssOf),
    cpuSeconds: () => sumOverTree(pid, cpuOf),
    alive: () => !exited,
    stop: async () => {
      await stopProcess(child, exit, () => exited);
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

async function stopProcess(child: ChildProcess, exit: Promise<void>, exited: () => boolean): Promise<void> {
  if (exited()) return;
  // SIGTERM first so ours exits cleanly and writes its CPU profile; SIGKILL if it lingers.
  child.kill('SIGTERM');
  await Promise.race([exit, sleep(8_000)]);
  if (!exited()) {
    child.kill('SIGKILL');
    await exit;
  }
}

/** Some figure of a process and all its descendants, from /proc. */
function sumOverTree(root: number, figure: (pid: number) => number): number {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses; fields resume after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      // The process ended while we were listing.
    }
  }
  const tree = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (!tree.has(pid) && tree.has(ppid)) {
        tree.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const pid of tree) {
    try {
      total += figure(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return total;
}

function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1] ?? 0) * 1024;
}

/** utime + stime, fields 14 and 15 of /proc/<pid>/stat, in clock ticks (100 per second on Linux). */
function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
