import { fork, type ChildProcess } from 'node:child_process';
import type { Awaited, AwaitCommand, Command, Opened, OpenCommand, Reply, Stats } from './protocol.ts';

const WORKER = new URL('./worker.ts', import.meta.url).pathname;
/** Below the 20,000 open files each process may hold, with room for the process's own. */
export const MAX_PER_WORKER = 19_000;
let fleetsStarted = 0;

/** The load generator processes of one run, driven as one: counts are split between them and results summed. */
export class Fleet {
  private readonly workers: ChildProcess[];
  private readonly waiting = new Map<number, { resolve: (result: Reply['result']) => void; reject: (error: Error) => void }>();
  private nextId = 0;

  private constructor(workers: ChildProcess[]) {
    this.workers = workers;
    for (const worker of workers) {
      worker.on('message', (reply: Reply) => {
        this.waiting.get(reply.id)?.resolve(reply.result);
        this.waiting.delete(reply.id);
      });
      // A load generator that dies must fail the run's pending calls, not leave them hanging.
      worker.on('exit', () => {
        for (const pending of this.waiting.values()) pending.reject(new Error('a load generator process exited'));
        this.waiting.clear();
      });
    }
  }

  /** Two processes at least, so the load generator can use both cores; more when one would pass its file limit. */
  static start(connections: number): Fleet {
    const count = Math.max(2, Math.ceil(connections / MAX_PER_WORKER));
    // Each fleet takes source addresses no earlier fleet used: the sockets a run closes sit in TIME_WAIT
    // for a minute, holding their ports, and binding among thousands of them is slow.
    const run = (fleetsStarted++ % 250) + 1;
    const workers = Array.from({ length: count }, (_, index) => fork(WORKER, [String(run), String(index)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    return new Fleet(workers);
  }

  async open(spec: Omit<OpenCommand, 'type'>): Promise<Opened> {
    const shares = this.split(spec.count);
    const results = await Promise.all(
      this.workers.map((worker, index) =>
        this.send<Opened>(worker, {
          type: 'open',
          ...spec,
          count: shares[index] ?? 0,
          concurrency: Math.max(1, Math.ceil(spec.concurrency / this.workers.length)),
        }),
      ),
    );
    return {
      ok: sum(results.map((r) => r.ok)),
      failed: sum(results.map((r) => r.failed)),
      firstError: results.find((r) => r.firstError !== undefined)?.firstError,
      ms: Math.max(...results.map((r) => r.ms)),
    };
  }

  async awaitAll(spec: Omit<AwaitCommand, 'type'>): Promise<Awaited> {
    const results = await this.all<Awaited>({ type: 'await', ...spec });
    return {
      reached: sum(results.map((r) => r.reached)),
      missing: sum(results.map((r) => r.missing)),
      lastAtNs: Math.max(...results.map((r) => r.lastAtNs)),
    };
  }

  async mark(): Promise<void> {
    await this.all({ type: 'mark' });
  }

  async stats(): Promise<Stats> {
    const results = await this.all<Stats>({ type: 'stats' });
    return {
      open: sum(results.map((r) => r.open)),
      closedByPeer: sum(results.map((r) => r.closedByPeer)),
      events: sum(results.map((r) => r.events)),
      bytes: sum(results.map((r) => r.bytes)),
      minBlocksSinceMark: Math.min(...results.filter((r) => r.open > 0).map((r) => r.minBlocksSinceMark)),
      belowTwoSinceMark: sum(results.map((r) => r.belowTwoSinceMark)),
      duplicates: sum(results.map((r) => r.duplicates)),
      missing: sum(results.map((r) => r.missing)),
      latenciesMs: results.flatMap((r) => r.latenciesMs),
      cpuSeconds: sum(results.map((r) => r.cpuSeconds)),
    };
  }

  async close(): Promise<void> {
    await this.all({ type: 'close' });
  }

  stop(): void {
    for (const worker of this.workers) worker.kill();
  }

  private split(count: number): number[] {
    const base = Math.floor(count / this.workers.length);
    return this.workers.map((_, index) => base + (index < count % this.workers.length ? 1 : 0));
  }

  private all<T extends Reply['result']>(command: Command): Promise<T[]> {
    return Promise.all(this.workers.map((worker) => this.send<T>(worker, command)));
  }

  private send<T extends Reply['result']>(worker: ChildProcess, command: Command): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (!worker.connected) {
        reject(new Error('a load generator process is gone'));
        return;
      }
      this.waiting.set(id, { resolve: (result) => resolve(result as T), reject });
      worker.send({ id, command });
    });
  }
}

function sum(values: readonly number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
