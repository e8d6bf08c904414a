/**
 * Where the time goes: the top frames of a V8 CPU profile written by `npm run bench -- --profile`.
 *
 *   node bench/profile.ts bench/results/ours-fanout-10000-<stamp>.cpuprofile [--top 25] [--from µs --to µs]
 *
 * --from/--to keep only samples inside a window on the profile's clock (CLOCK_MONOTONIC in µs,
 * the same as process.hrtime): the bench prints the window of each scenario's measured phase,
 * so connection setup and shutdown can be left out.
 *
 * Self time is per function (summed over every node of the call tree that is that function);
 * total time includes its callees, counted once per function even when it recurses.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, from: { type: 'string' }, to: { type: 'string' } },
});
const file = positionals[0];
if (file === undefined) {
  process.stderr.write('usage: node bench/profile.ts <file.cpuprofile> [--top N]\n');
  process.exit(2);
}
const top = Number(values.top);
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const from = values.from === undefined ? -Infinity : Number(values.from);
const to = values.to === undefined ? Infinity : Number(values.to);
const inWindow: number[] = [];
let time = profile.startTime;
profile.samples.forEach((sample, index) => {
  time += profile.timeDeltas[index] ?? 0;
  if (time >= from && time <= to) inWindow.push(sample);
});

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const selfSamples = new Map<number, number>();
for (const sample of inWindow) selfSamples.set(sample, (selfSamples.get(sample) ?? 0) + 1);

const root = new URL('../', import.meta.url).pathname;
const keyOf = (node: ProfileNode): string => {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url === '' ? '' : ` ${url.startsWith('file://') ? relative(root, new URL(url).pathname) : url}:${lineNumber + 1}`;
  return `${functionName || '(anonymous)'}${where}`;
};

const self = new Map<string, number>();
const total = new Map<string, number>();
for (const [id, count] of selfSamples) {
  const node = byId.get(id);
  if (node === undefined) continue;
  const key = keyOf(node);
  self.set(key, (self.get(key) ?? 0) + count);
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const ancestor = byId.get(at);
    if (ancestor === undefined) break;
    const ancestorKey = keyOf(ancestor);
    if (seen.has(ancestorKey)) continue;
    seen.add(ancestorKey);
    total.set(ancestorKey, (total.get(ancestorKey) ?? 0) + count);
  }
}

const samples = inWindow.length;
const idle = self.get('(idle)') ?? 0;
const busy = samples - idle;
const percent = (count: number): string => `${((100 * count) / Math.max(1, busy)).toFixed(1).padStart(5)}%`;
const span = (Math.min(to, profile.endTime) - Math.max(from, profile.startTime)) / 1e6;
process.stdout.write(
  `${file}: ${samples} samples over ${span.toFixed(1)} s, ${((100 * busy) / Math.max(1, samples)).toFixed(0)}% busy; shares are of busy time\n\n`,
);
process.stdout.write(`self    total   function\n`);
const ranked = [...self.entries()]
  .filter(([key]) => key !== '(idle)')
  .sort((a, b) => b[1] - a[1])
  .slice(0, top);
for (const [key, count] of ranked) process.stdout.write(`${percent(count)} ${percent(total.get(key) ?? count)}  ${key}\n`);
