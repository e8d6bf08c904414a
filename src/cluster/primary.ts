import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry } from 'prom-client';
import type { Config } from '../config/schema.ts';
import { logListening } from '../gateway.ts';
import type { Logger } from '../logger.ts';
import { isMessage, type ToPrimary, type ToWorker } from './messages.ts';

const WORKER_ENTRY = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** A worker that dies this soon after the one before it counts towards the restart backoff. */
const CRASH_WINDOW_MS = 60_000;
const MAX_RESTART_DELAY_MS = 30_000;

/**
 * `streams.workers` > 1: this process forks the workers and keeps them running, and serves no
 * request itself. Each worker is a whole gateway instance on the shared Redis log (ingress,
 * replay, fan-out, tickets), as a separate host would be, and node:cluster shares the one
 * listening port between them. The primary only hands each worker the config, restarts a
 * worker that dies, answers a worker's /metrics with every worker's figures summed, and drains
 * them all on shutdown.
 */
export class GatewayCluster {
  private readonly config: Readonly<Config>;
  private readonly logger: Logger;
  /** By index (0 … workers-1): a restarted worker takes the index of the one it replaces. */
  private readonly workers = new Map<number, Worker>();
  private readonly restarts = new Set<NodeJS.Timeout>();
  private readonly aggregator = new AggregatorRegistry();
  private recentCrashes: number[] = [];
  private closing: Promise<void> | undefined;

  constructor(config: Readonly<Config>, logger: Logger) {
    this.config = config;
    this.logger = logger.child({ room: 'cluster' });
  }

  /** Forks every worker; resolves with the address once all of them listen, rejects if one dies first. */
  async listen(): Promise<URL> {
    cluster.setupPrimary({ exec: WORKER_ENTRY, args: [] });
    cluster.on('message', (worker, message: unknown) => {
      if (isMessage<Extract<ToPrimary, { type: 'sseg:metrics-request' }>>(message, 'sseg:metrics-request')) this.answerMetrics(worker, message.requestId);
    });
    const count = this.config.streams.workers;
    let urls: URL[];
    try {
      urls = await Promise.all(Array.from({ length: count }, (_, index) => this.fork(index)));
    } catch (error) {
      // One worker could not start (a taken port, say): the others must not run on without it.
      await this.close();
      throw error;
    }
    const url = urls[0] as URL;
    logListening(this.logger, this.config, url, { workers: count });
    return url;
  }

  /** Every worker drains its streams (each client gets a jittered `retry:`) and exits; idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const timer of this.restarts) clearTimeout(timer);
      this.restarts.clear();
      const running = [...this.workers.values()].filter((worker) => !worker.isDead());
      const exited = running.map((worker) => new Promise<void>((resolve) => worker.once('exit', () => resolve())));
      for (const worker of running) send(worker, { type: 'sseg:shutdown' });
      // Workers bound their own drain by shutdownTimeout; one that outlives it by much is stuck.
      const stuck = setTimeout(() => {
        for (const worker of running) if (!worker.isDead()) worker.process.kill('SIGKILL');
      }, this.config.server.shutdownTimeout + 3_000);
      await Promise.all(exited);
      clearTimeout(stuck);
      this.logger.info('all workers stopped');
    })();
    return this.closing;
  }

  private fork(index: number): Promise<URL> {
    const worker = cluster.fork({ SSEG_WORKER_INDEX: String(index) });
    this.workers.set(index, worker);
    send(worker, { type: 'sseg:config', config: this.config, index });
    const listening = new Promise<URL>((resolve, reject) => {
      const onMessage = (message: unknown): void => {
        if (!isMessage<Extract<ToPrimary, { type: 'sseg:listening' }>>(message, 'sseg:listening')) return;
        worker.off('exit', onEarlyExit);
        worker.off('message', onMessage);
        resolve(new URL(message.url));
      };
      const onEarlyExit = (code: number | null, signal: string | null): void => {
        worker.off('message', onMessage);
        reject(new Error(`worker ${index} exited (${signal ?? `code ${code}`}) before it listened`));
      };
      worker.on('message', onMessage);
      worker.once('exit', onEarlyExit);
    });
    worker.once('exit', (code, signal) => this.exited(index, worker, code, signal));
    return listening;
  }

  private exited(index: number, worker: Worker, code: number | null, signal: string | null): void {
    if (this.workers.get(index) === worker) this.workers.delete(index);
    if (this.closing !== undefined) return;
    // Its clients reconnect (to the other workers, or to its replacement) and resume by Last-Event-ID.
    const now = Date.now();
    this.recentCrashes = [...this.recentCrashes.filter((at) => now - at < CRASH_WINDOW_MS), now];
    const delay = Math.min(MAX_RESTART_DELAY_MS, 250 * 2 ** (this.recentCrashes.length - 1));
    this.logger.error({ worker: index, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died; starting a replacement');
    const timer = setTimeout(() => {
      this.restarts.delete(timer);
      this.fork(index).then(
        () => this.logger.info({ worker: index }, 'replacement worker listening'),
        (error: unknown) => this.logger.error({ err: error, worker: index }, 'replacement worker failed to start'),
      );
    }, delay);
    this.restarts.add(timer);
  }

  private answerMetrics(worker: Worker, requestId: number): void {
    this.aggregator.clusterMetrics().then(
      (text) => send(worker, { type: 'sseg:metrics', requestId, text }),
      (error: unknown) => send(worker, { type: 'sseg:metrics', requestId, error: error instanceof Error ? error.message : String(error) }),
    );
  }
}

function send(worker: Worker, message: ToWorker): void {
  // A worker that is gone needs nothing more; its exit handler deals with it.
  if (worker.isConnected()) worker.send(message);
}
