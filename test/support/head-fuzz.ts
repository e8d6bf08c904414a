import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';

/**
 * A differential fuzz of the front door: random request heads built from nasty pieces, each sent
 * over a real socket to a gateway and to a plain node:http server, in random splits. The rule
 * under test (docs/architecture.md, "The front door"): the front door only accepts, never
 * rejects; whatever it takes, node:http would take too. So wherever node:http refuses a head
 * (4xx), the gateway must refuse it too, and wherever node:http takes it, the gateway must not
 * answer with a parser's refusal.
 */

/** Mulberry32: small, fast, and the same sequence for a seed on every machine. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = [
  'Host',
  'Accept',
  'Origin',
  'Last-Event-ID',
  'Cookie',
  'Set-Cookie',
  'If-Modified-Since',
  'User-Agent',
  'Authorization',
  'constructor',
  '__proto__',
  'toString',
  'X-Pad',
  'Content-Length',
  'Expect',
  'Cache-Control',
];
const NASTY = ['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001b', '\u007f', '\u00a0', '\u00ff', '\t', ' ', '\r', '\n', ';', ',', '"'];

export interface FuzzHead {
  readonly bytes: Buffer;
  /** Where to cut the bytes into writes. */
  readonly cuts: readonly number[];
}

export function randomHead(random: () => number): FuzzHead {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const version = random() < 0.85 ? 'HTTP/1.1' : 'HTTP/1.0';
  const target = pick(['/events/fz', '/events?channel=fz', '/events/fz?lastEventId=x-1', '/events/fz?channel=fy']);
  const eol = (): string => (random() < 0.93 ? '\r\n' : pick(['\n', '\r']));
  let text = `GET ${target} ${version}${eol()}`;
  if (random() < 0.9) text += `Host: gw${eol()}`;
  const count = Math.floor(random() * 6);
  for (let i = 0; i < count; i += 1) {
    const name = pick(NAMES);
    let value = name === 'Content-Length' ? '0' : name === 'Expect' ? '100-continue' : pick(['a', 'x-1', 'b=2', 'text/event-stream', '']);
    if (random() < 0.25) value = insert(value, pick(NASTY), random);
    if (random() < 0.15) value = `${pick([' ', '\t', '\u000b', '\u00a0'])}${value}${pick([' ', '\t', '\u000c', '\u00a0'])}`;
    if (name === 'X-Pad' && random() < 0.3) value = 'p'.repeat(16_300 + Math.floor(random() * 200));
    text += `${name}:${random() < 0.9 ? ' ' : ''}${value}${eol()}`;
  }
  text += random() < 0.95 ? '\r\n' : pick(['\n', '\r\n\r\n']);
  const bytes = Buffer.from(text, 'latin1');
  const cuts = Array.from({ length: Math.floor(random() * 4) }, () => Math.floor(random() * bytes.length)).sort((a, b) => a - b);
  return { bytes, cuts };
}

function insert(value: string, piece: string, random: () => number): string {
  const at = Math.floor(random() * (value.length + 1));
  return value.slice(0, at) + piece + value.slice(at);
}

/** The first status code the server answers with, or 0 if it closed without one; the connection is cut after it. */
export function firstStatus(origin: string, head: FuzzHead, waitMs = 2_000): Promise<number> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let seen = '';
    const done = (status: number): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(status);
    };
    // A head the server is still waiting on (it took it as incomplete) counts as "no answer".
    const timer = setTimeout(() => done(-1), waitMs);
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(seen);
      if (match !== null) done(Number(match[1]));
    });
    socket.on('error', () => done(0));
    socket.on('close', () => done(0));
    socket.on('connect', () => {
      let from = 0;
      const next = (index: number): void => {
        const to = head.cuts[index] ?? head.bytes.length;
        if (to > from) socket.write(head.bytes.subarray(from, to));
        from = Math.max(from, to);
        if (index < head.cuts.length) setImmediate(() => next(index + 1));
      };
      next(0);
    });
  });
}

/** A plain node:http server that takes every request it can parse with a 200. */
export async function startReference(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain' });
    response.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Divergence {
  readonly head: string;
  readonly node: number;
  readonly gateway: number;
}

/** Whether two answers to one head break the rule: node refuses and the gateway takes it, or node takes it and the gateway refuses it as unparseable. */
export function diverges(node: number, gateway: number): boolean {
  const nodeTook = node === 200 || node === 100;
  const gatewayTook = gateway === 200 || gateway === 100;
  if (!nodeTook) return gatewayTook;
  return gateway === 400 || gateway === 431 || gateway === 0;
}

/** Sends `count` heads from `seed` to both, `parallel` at a time; resolves with every divergence. */
export async function runDifferential(gatewayUrl: string, referenceUrl: string, seed: number, count: number, parallel = 16): Promise<Divergence[]> {
  const random = prng(seed);
  const heads = Array.from({ length: count }, () => randomHead(random));
  const divergences: Divergence[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < heads.length) {
      const head = heads[next++] as FuzzHead;
      const [node, gateway] = await Promise.all([firstStatus(referenceUrl, head), firstStatus(gatewayUrl, head)]);
      if (diverges(node, gateway)) divergences.push({ head: JSON.stringify(head.bytes.toString('latin1').slice(0, 300)), node, gateway });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return divergences;
}
