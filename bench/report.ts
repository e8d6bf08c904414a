import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerName } from './peers/peers.ts';
import type { ScenarioName } from './scenarios/scenario.ts';

/** One row of the table: a metric, each peer's value, and how ours compares. */
export interface Figure {
  readonly scenario: ScenarioName;
  readonly metric: string;
  readonly unit: string;
  readonly better: 'lower' | 'higher';
  readonly values: Partial<Record<PeerName, number | null>>;
  readonly notes: Partial<Record<PeerName, string>>;
  /** How many times better ours is than each peer (> 1: ours is better), where both were measured. */
  readonly advantage: Partial<Record<PeerName, number>>;
}

export interface PeerStatus {
  readonly label: string;
  readonly status: 'measured' | 'missing' | 'not selected';
  readonly install?: string;
  readonly resumes: boolean;
}

export interface Results {
  readonly startedAt: string;
  readonly finishedAt: string;
  /** loadAverage: 1-minute load at the start and at the end: other work on the machine skews every figure. */
  readonly machine: { cores: number; cpu: string; memoryGiB: number; node: string; kernel: string; loadAverage: [number, number] };
  readonly options: Record<string, unknown>;
  readonly peers: Partial<Record<PeerName, PeerStatus>>;
  readonly figures: Figure[];
  readonly details: Partial<Record<PeerName, Partial<Record<ScenarioName, unknown>>>>;
}

/** Ours against one peer: peer/ours where lower is better, ours/peer where higher is; 1 when equal; undefined when one is missing or only one is zero. */
export function advantageOver(better: 'lower' | 'higher', ours: number | null | undefined, peer: number | null | undefined): number | undefined {
  if (ours === null || ours === undefined || peer === null || peer === undefined) return undefined;
  if (ours === peer) return 1;
  if (ours <= 0 || peer <= 0) return undefined;
  return Number((better === 'lower' ? peer / ours : ours / peer).toFixed(2));
}

export function markdownTable(results: Results, peers: readonly PeerName[]): string {
  const others = peers.filter((peer) => peer !== 'ours');
  const showsRatios = peers.includes('ours') && others.length > 0;
  const header = ['Metric', 'Unit', ...peers, ...(showsRatios ? others.map((peer) => `ours vs ${peer}`) : [])];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, index) => (index < 2 ? '---' : '---:')).join('|')}|`];
  for (const figure of results.figures) {
    const cells = peers.map((peer) => {
      const value = figure.values[peer];
      const note = figure.notes[peer];
      const text = value === undefined ? 'not run' : value === null ? 'n/a' : value.toLocaleString('en');
      return note === undefined ? text : `${text} (${note})`;
    });
    const ratios = showsRatios ? others.map((peer) => formatAdvantage(figure.advantage[peer])) : [];
    lines.push(`| ${[figure.metric, `${figure.unit}, ${figure.better} is better`, ...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

function formatAdvantage(value: number | undefined): string {
  if (value === undefined) return '—';
  if (value === 1) return 'same';
  return value > 1 ? `**${value}× better**` : `${Number((1 / value).toFixed(2))}× worse`;
}

const COLORS: Readonly<Record<PeerName, string>> = { 'ours': '#d6336c', 'nchan': '#1c7ed6', 'better-sse': '#2f9e44', 'python': '#f08c00' };

/**
 * Fan-out latency against subscribers, p50 solid and p99 dashed, on a log scale (the peers
 * differ by orders of magnitude). Hand-written SVG: no chart library for two dozen points.
 */
export function latencySvg(results: Results, peers: readonly PeerName[]): string {
  const pattern = /^fan-out to ([\d,]+): (p50|p99)$/;
  const series: Array<{ peer: PeerName; percentile: string; points: Array<[number, number]> }> = [];
  const counts = new Set<number>();
  for (const peer of peers) {
    for (const percentile of ['p50', 'p99']) {
      const points: Array<[number, number]> = [];
      for (const figure of results.figures) {
        const match = pattern.exec(figure.metric);
        const value = figure.values[peer];
        if (match?.[2] !== percentile || typeof value !== 'number' || value <= 0) continue;
        const count = Number((match[1] ?? '').replaceAll(',', ''));
        counts.add(count);
        points.push([count, value]);
      }
      if (points.length > 0) series.push({ peer, percentile, points: points.sort((a, b) => a[0] - b[0]) });
    }
  }
  const width = 720;
  const height = 440;
  const left = 70;
  const right = 200;
  const top = 40;
  const bottom = 60;
  const xs = [...counts].sort((a, b) => a - b);
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  const lowExp = values.length === 0 ? 0 : Math.floor(Math.log10(Math.min(...values)));
  const highExp = Math.max(lowExp + 1, Math.ceil(Math.log10(Math.max(...values, 1))));
  const xAt = (count: number): number => {
    if (xs.length < 2) return left + (width - left - right) / 2;
    const [first, last] = [Math.log10(xs[0] ?? 1), Math.log10(xs.at(-1) ?? 10)];
    return left + ((Math.log10(count) - first) / (last - first)) * (width - left - right);
  };
  const yAt = (ms: number): number => top + ((highExp - Math.log10(ms)) / (highExp - lowExp)) * (height - top - bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">Fan-out: publish-to-receipt latency against subscribers</text>`,
  ];
  for (let exp = lowExp; exp <= highExp; exp += 1) {
    const y = yAt(10 ** exp).toFixed(1);
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${(10 ** exp).toLocaleString('en')} ms</text>`);
  }
  for (const count of xs) {
    const x = xAt(count).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${height - bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${x}" y="${height - bottom + 18}" text-anchor="middle">${count.toLocaleString('en')}</text>`);
  }
  parts.push(`<text x="${(left + width - right) / 2}" y="${height - 18}" text-anchor="middle">subscribers (log scale)</text>`);
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${height - bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" x2="${width - right}" y1="${height - bottom}" y2="${height - bottom}" stroke="#333"/>`);
  series.forEach((line, index) => {
    const color = COLORS[line.peer];
    const dash = line.percentile === 'p99' ? ' stroke-dasharray="6 4"' : '';
    const path = line.points.map(([count, ms]) => `${xAt(count).toFixed(1)},${yAt(ms).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    for (const [count, ms] of line.points) parts.push(`<circle cx="${xAt(count).toFixed(1)}" cy="${yAt(ms).toFixed(1)}" r="3" fill="${color}"/>`);
    const legendY = top + 10 + index * 20;
    parts.push(`<line x1="${width - right + 20}" x2="${width - right + 50}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${width - right + 58}" y="${legendY}" dominant-baseline="middle">${line.peer} ${line.percentile}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** Writes <dir>/<timestamp>.json and <dir>/latency.svg; returns their paths. */
export function writeResults(results: Results, peers: readonly PeerName[], dir: string): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${results.startedAt.replaceAll(':', '-')}.json`);
  const svg = join(dir, 'latency.svg');
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(svg, latencySvg(results, peers));
  return { json, svg };
}
