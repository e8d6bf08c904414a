/**
 * The bench: ours and its peers, scenario by scenario, in one run. Each server starts fresh for
 * each scenario run; peers not installed are reported with how to install them, never installed.
 *
 *   npm run bench                         every scenario, every installed peer, full size
 *   npm run bench -- --quick              small sizes: a few minutes
 *   npm run bench -- --scenario fanout,storm --peers ours,nchan
 *   npm run bench -- --profile            ours under --cpu-prof, profiles in bench/results/
 *   npm run bench -- --ours <dir>         ours from another checkout (e.g. a git worktree of a commit)
 *   npm run bench -- --workers 2          ours with streams.workers 2 (on a redis-server of the bench's own), Nchan with 2 workers
 *
 * Not part of `npm test`: it times things, and it loads both cores.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PEER_NAMES, PEERS, type PeerName } from './peers/peers.ts';
import { startBenchRedis } from './redis.ts';
import { advantageOver, markdownTable, writeResults, type Figure, type PeerStatus, type Results } from './report.ts';
import { fanout } from './scenarios/fanout.ts';
import { idle } from './scenarios/idle.ts';
import { publish } from './scenarios/publish.ts';
import { SCENARIO_NAMES, type Measurement, type Scenario, type ScenarioName } from './scenarios/scenario.ts';
import { storm } from './scenarios/storm.ts';
import { throughput } from './scenarios/throughput.ts';

const SCENARIOS: Readonly<Record<ScenarioName, Scenario>> = { idle, fanout, throughput, storm, publish };
const RESULTS_DIR = new URL('./results/', import.meta.url).pathname;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    scenario: { type: 'string', default: SCENARIO_NAMES.join(',') },
    peers: { type: 'string', default: PEER_NAMES.join(',') },
    profile: { type: 'boolean', default: false },
    heartbeat: { type: 'string', default: '2' },
    ours: { type: 'string' },
    workers: { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  process.stdout.write(
    `npm run bench -- [--quick] [--scenario ${SCENARIO_NAMES.join(',')}] [--peers ${PEER_NAMES.join(',')}] [--profile] [--heartbeat seconds] [--ours checkout] [--workers N]\n`,
  );
  process.exit(0);
}

const scenarios = pick(args.scenario, SCENARIO_NAMES, 'scenario');
const selected = pick(args.peers, PEER_NAMES, 'peer');
const heartbeatSeconds = Number(args.heartbeat);
const oursTree = args.ours === undefined ? undefined : resolve(args.ours);
if (oursTree !== undefined && !existsSync(join(oursTree, 'src/cli/main.ts'))) fail(`--ours ${oursTree}: no src/cli/main.ts there`);
if (!(heartbeatSeconds >= 1)) fail('--heartbeat must be at least 1 (seconds)');
const workers = Number(args.workers);
if (!Number.isInteger(workers) || workers < 1) fail('--workers must be a whole number, at least 1');

const log = (message: string): void => void process.stderr.write(`${message}\n`);
const startedAt = new Date().toISOString();
const loadAtStart = loadavg()[0] ?? 0;
const stamp = startedAt.replaceAll(':', '-');
const token = randomBytes(18).toString('base64url');

const peerStatus: Partial<Record<PeerName, PeerStatus>> = {};
const peers: PeerName[] = [];
for (const name of PEER_NAMES) {
  const peer = PEERS[name];
  if (!selected.includes(name)) continue;
  const install = peer.missing();
  peerStatus[name] = { label: peer.label, status: install === undefined ? 'measured' : 'missing', resumes: peer.resumes, ...(install ? { install } : {}) };
  if (install === undefined) peers.push(name);
  else log(`${name}: not installed, skipped. To include it: ${install}`);
}

const redis =
  workers > 1 && peers.includes('ours')
    ? await startBenchRedis().catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)))
    : undefined;
const figures = new Map<string, Figure>();
const details: Results['details'] = {};
for (const scenarioName of scenarios) {
  const scenario = SCENARIOS[scenarioName];
  for (const name of peers) {
    log(`${scenario.title} — ${name}`);
    let measurements: Measurement[];
    try {
      const result = await scenario.run({
        peer: PEERS[name],
        quick: args.quick,
        token,
        heartbeatSeconds,
        profileDir: args.profile ? RESULTS_DIR : undefined,
        oursTree,
        stamp,
        workers,
        redisUrl: redis?.url,
        log,
      });
      measurements = result.measurements;
      (details[name] ??= {})[scenarioName] = result.detail;
    } catch (error) {
      // One peer failing a scenario (a crash, a refusal) is a finding; the run goes on.
      const message = error instanceof Error ? error.message : String(error);
      log(`  failed: ${message}`);
      (details[name] ??= {})[scenarioName] = { error: message };
      measurements = [];
    }
    for (const measurement of measurements) record(scenarioName, name, measurement);
  }
}

redis?.stop();

const results: Results = {
  startedAt,
  finishedAt: new Date().toISOString(),
  machine: {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    kernel: release(),
    loadAverage: [loadAtStart, loadavg()[0] ?? 0],
  },
  options: {
    quick: args.quick,
    scenarios,
    peers,
    heartbeatSeconds,
    profile: args.profile,
    workers,
    ours: describeCheckout(oursTree ?? join(RESULTS_DIR, '..', '..')),
  },
  peers: peerStatus,
  figures: [...figures.values()].map((figure) => ({
    ...figure,
    advantage: Object.fromEntries(
      peers
        .filter((peer) => peer !== 'ours')
        .flatMap((peer) => {
          const advantage = advantageOver(figure.better, figure.values.ours, figure.values[peer]);
          return advantage === undefined ? [] : [[peer, advantage]];
        }),
    ),
  })),
  details,
};
const written = writeResults(results, peers, RESULTS_DIR);
process.stdout.write(`\n${markdownTable(results, peers)}\n\n`);
process.stdout.write(
  `machine: ${results.machine.cores} cores (${results.machine.cpu}), ${results.machine.memoryGiB} GiB, Node ${results.machine.node}, Linux ${results.machine.kernel}; ` +
    `load average ${results.machine.loadAverage.map((load) => load.toFixed(1)).join(' → ')}\n`,
);
for (const [name, status] of Object.entries(peerStatus)) {
  if (status.status === 'missing') process.stdout.write(`${name}: not installed (${status.install ?? ''})\n`);
}
process.stdout.write(`results: ${written.json}\nchart:   ${written.svg}\n`);

function record(scenario: ScenarioName, peer: PeerName, measurement: Measurement): void {
  let figure = figures.get(measurement.metric);
  if (figure === undefined) {
    figure = { scenario, metric: measurement.metric, unit: measurement.unit, better: measurement.better, values: {}, notes: {}, advantage: {} };
    figures.set(measurement.metric, figure);
  }
  figure.values[peer] = measurement.value;
  if (measurement.note !== undefined) figure.notes[peer] = measurement.note;
}

/** Which code "ours" was: the commit, and whether src/ had uncommitted changes (others edit the same tree). */
function describeCheckout(dir: string): string {
  const git = (...gitArgs: string[]): string => spawnSync('git', ['-C', dir, ...gitArgs], { encoding: 'utf8' }).stdout.trim();
  const commit = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain', '--', 'src') !== '';
  return `${dir} at ${commit || 'unknown commit'}${dirty ? ' with uncommitted changes in src/' : ''}`;
}

function pick<T extends string>(list: string, known: readonly T[], what: string): T[] {
  const names = list
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  for (const name of names) if (!known.includes(name as T)) fail(`unknown ${what} ${JSON.stringify(name)}; known: ${known.join(', ')}`);
  return known.filter((name) => names.includes(name));
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}
