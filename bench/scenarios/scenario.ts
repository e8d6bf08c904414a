import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Fleet } from '../loadgen/fleet.ts';
import type { Opened } from '../loadgen/protocol.ts';
import type { Peer } from '../peers/peers.ts';
import { Publisher } from '../publisher.ts';
import { startServer, type RunningServer } from '../server.ts';

export type ScenarioName = 'idle' | 'fanout' | 'throughput' | 'storm' | 'publish';
export const SCENARIO_NAMES: readonly ScenarioName[] = ['idle', 'fanout', 'throughput', 'storm', 'publish'];

/** One figure of one peer; the report lines figures up across peers by `metric`. */
export interface Measurement {
  readonly metric: string;
  readonly unit: string;
  readonly better: 'lower' | 'higher';
  /** null: could not be measured for this peer (say why in `note`). */
  readonly value: number | null;
  readonly note?: string;
}

export interface ScenarioContext {
  readonly peer: Peer;
  readonly quick: boolean;
  readonly token: string;
  readonly heartbeatSeconds: number;
  /** Set with --profile: ours runs under --cpu-prof, one profile per server run, written here. */
  readonly profileDir: string | undefined;
  /** Where ours runs from (--ours); undefined: this checkout. */
  readonly oursTree: string | undefined;
  readonly stamp: string;
  /** --workers: server processes for ours and Nchan. */
  readonly workers: number;
  /** With workers > 1: the bench's redis-server, flushed before each run of ours. */
  readonly redisUrl: string | undefined;
  log(message: string): void;
}

export interface ScenarioResult {
  readonly measurements: Measurement[];
  /** Everything else worth keeping in the JSON (per-step figures, counts). */
  readonly detail: Record<string, unknown>;
}

export interface Scenario {
  readonly name: ScenarioName;
  readonly title: string;
  run(context: ScenarioContext): Promise<ScenarioResult>;
}

export interface Harness {
  readonly server: RunningServer;
  readonly fleet: Fleet;
  readonly publisher: Publisher;
}

/**
 * A fresh server, load generators sized for `connections` and a publisher for one run; all
 * three are torn down however the run ends.
 */
export async function withHarness<T>(context: ScenarioContext, run: string, connections: number, body: (harness: Harness) => Promise<T>): Promise<T> {
  const { peer } = context;
  const profile =
    context.profileDir !== undefined && peer.name === 'ours' ? { dir: context.profileDir, name: `ours-${run}-${context.stamp}.cpuprofile` } : undefined;
  // A fresh log too: a reused one would carry the last run's events into this one.
  if (peer.name === 'ours' && context.redisUrl !== undefined) spawnSync('redis-cli', ['-u', context.redisUrl, 'FLUSHALL'], { stdio: 'ignore' });
  const server = await startServer(peer, {
    heartbeatSeconds: context.heartbeatSeconds,
    workers: context.workers,
    ...(context.redisUrl === undefined ? {} : { redisUrl: context.redisUrl }),
    token: context.token,
    ...(profile ? { profile } : {}),
    ...(context.oursTree === undefined ? {} : { oursTree: context.oursTree }),
  });
  const fleet = Fleet.start(connections);
  const publisher = new Publisher(peer, server.port, context.token);
  try {
    return await body({ server, fleet, publisher });
  } finally {
    await fleet.close().catch(() => undefined);
    fleet.stop();
    await publisher.close().catch(() => undefined);
    await server.stop();
    if (profile) context.log(`  profile: ${join(profile.dir, profile.name)}`);
    // Let the kernel settle closed sockets before the next server starts.
    await sleep(500);
  }
}

/** Opens `count` new subscribers of one channel, 500 at a time; every `sample`-th parses timestamps. */
export function subscribe({ server, fleet }: Harness, channel: string, count: number, sample: number): Promise<Opened> {
  return fleet.open({
    port: server.port,
    path: `/events/${channel}`,
    count,
    resumeSeq: 0,
    sampleEvery: sample,
    trackSeq: false,
    concurrency: 500,
    timeoutMs: 60_000,
  });
}

/** How many connections of `count` parse timestamps: about a thousand, enough for a stable p99. */
export function sampleEvery(count: number): number {
  return Math.max(1, Math.floor(count / 1_000));
}

/** Now on the clock V8 stamps CPU profiles with (CLOCK_MONOTONIC, µs): windows for `node bench/profile.ts --from --to`. */
export const profileClockUs = (): number => Number(process.hrtime.bigint() / 1000n);

export const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
