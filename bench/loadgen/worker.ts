/**
 * One load generator process: raw SSE subscribers on node:net, driven over IPC by the
 * orchestrator (bench/loadgen/fleet.ts). It shares two cores with the server under test, so
 * it is built to cost little: most connections only count "data:" and "\n\n" occurrences with
 * Buffer.indexOf (native, no strings); a sample of them parses each event's timestamp for
 * publish-to-receipt latency. process.hrtime is CLOCK_MONOTONIC, one clock for every process
 * on the machine, so the publisher's timestamp and ours compare directly.
 *
 * Usage: forked with two arguments, its fleet's number and its own index, which pick its source
 * addresses: 127.<fleet>.<index>.2, .3, … (a new one every 4,000 connections).
 */
import { connect, type Socket } from 'node:net';
import type { Awaited, AwaitCommand, Command, Opened, OpenCommand, Reply, Request, Stats } from './protocol.ts';

const DATA = Buffer.from('data:');
const BLOCK = Buffer.from('\n\n');
const HEADER_END = Buffer.from('\r\n\r\n');
const SPACE = 0x20;
const ZERO = 0x30;
const NINE = 0x39;
/** Source addresses change every this many connections: far below the ~28k ephemeral ports of one address. */
const PER_ADDRESS = 4_000;
/** However it is driven, this process ends by itself. */
const LIFETIME_MS = 45 * 60_000;

const fleetIndex = Number(process.argv[2] ?? 1);
const workerIndex = Number(process.argv[3] ?? 0);
let connectionsMade = 0;

function nextAddress(): string {
  const block = Math.floor(connectionsMade++ / PER_ADDRESS);
  return `127.${fleetIndex}.${workerIndex}.${2 + (block % 250)}`;
}

function countOf(buffer: Buffer, marker: Buffer): number {
  let n = 0;
  for (let at = buffer.indexOf(marker); at !== -1; at = buffer.indexOf(marker, at + marker.length)) n += 1;
  return n;
}

/** Whether `marker` starts in the last bytes of the previous chunk and ends in this one. */
function straddles(tail: Buffer, tailLength: number, chunk: Buffer, marker: Buffer): boolean {
  for (let k = Math.min(marker.length - 1, tailLength); k >= 1; k -= 1) {
    if (chunk.length < marker.length - k) continue;
    let same = true;
    for (let i = 0; i < k && same; i += 1) same = tail[tailLength - k + i] === marker[i];
    for (let i = k; i < marker.length && same; i += 1) same = chunk[i - k] === marker[i];
    if (same) return true;
  }
  return false;
}

/** Reads an unsigned decimal at `at`; returns [value, index after it], value -1 if no digit. */
function readNumber(buffer: Buffer, at: number): [number, number] {
  let value = -1;
  let i = at;
  for (; i < buffer.length; i += 1) {
    const byte = buffer[i] ?? 0;
    if (byte < ZERO || byte > NINE) break;
    value = (value < 0 ? 0 : value * 10) + (byte - ZERO);
  }
  return [value, i];
}

class Subscriber {
  readonly socket: Socket;
  readonly parses: boolean;
  readonly sampled: boolean;
  established = false;
  ended = false;
  events = 0;
  blocks = 0;
  bytes = 0;
  markedBlocks = 0;
  lastSeq: number;
  duplicates = 0;
  missing = 0;
  reached = false;
  private head: Buffer | undefined;
  private pending: Buffer | undefined;
  private readonly tail = Buffer.alloc(4);
  private tailLength = 0;

  constructor(socket: Socket, sampled: boolean, trackSeq: boolean, resumeSeq: number) {
    this.socket = socket;
    this.sampled = sampled;
    this.parses = sampled || trackSeq;
    this.lastSeq = resumeSeq;
  }

  /** Returns the HTTP status once the head is complete, 0 while it is not. */
  receive(chunk: Buffer): number {
    this.bytes += chunk.length;
    if (this.established) {
      this.body(chunk);
      return 200;
    }
    const head = this.head === undefined ? chunk : Buffer.concat([this.head, chunk]);
    const end = head.indexOf(HEADER_END);
    if (end === -1) {
      this.head = head;
      return head.length > 16_384 ? 431 : 0;
    }
    this.head = undefined;
    const status = Number(head.toString('latin1', 9, 12));
    if (status !== 200) return status;
    this.established = true;
    if (end + 4 < head.length) this.body(head.subarray(end + 4));
    return 200;
  }

  private body(chunk: Buffer): void {
    if (this.parses) {
      this.parse(chunk);
      return;
    }
    let events = countOf(chunk, DATA);
    let blocks = countOf(chunk, BLOCK);
    if (this.tailLength > 0) {
      if (straddles(this.tail, this.tailLength, chunk, DATA)) events += 1;
      if (straddles(this.tail, this.tailLength, chunk, BLOCK)) blocks += 1;
    }
    this.keepTail(chunk);
    this.events += events;
    this.blocks += blocks;
    if (events > 0 && awaiting !== undefined) awaiting.check(this);
  }

  /** The stream's last four bytes, across chunks however small: a marker may span several. */
  private keepTail(chunk: Buffer): void {
    const size = this.tail.length;
    if (chunk.length >= size) {
      this.tailLength = chunk.copy(this.tail, 0, chunk.length - size);
      return;
    }
    const keep = Math.min(this.tailLength, size - chunk.length);
    this.tail.copy(this.tail, 0, this.tailLength - keep, this.tailLength);
    this.tailLength = keep + chunk.copy(this.tail, keep);
  }

  /** Whole events only: what follows the last blank line waits for the next chunk. */
  private parse(chunk: Buffer): void {
    const buffer = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    const last = buffer.lastIndexOf(BLOCK);
    if (last === -1) {
      this.pending = buffer;
      return;
    }
    const whole = buffer.subarray(0, last + BLOCK.length);
    this.pending = last + BLOCK.length < buffer.length ? Buffer.from(buffer.subarray(last + BLOCK.length)) : undefined;
    this.blocks += countOf(whole, BLOCK);
    const now = this.sampled ? Number(process.hrtime.bigint()) : 0;
    let events = 0;
    for (let at = whole.indexOf(DATA); at !== -1; at = whole.indexOf(DATA, at + DATA.length)) {
      events += 1;
      let i = at + DATA.length;
      if (whole[i] === SPACE) i += 1;
      // Bench events carry "<seq> <hrtime ns>"; anything else (a gap event, a ping) is counted, not read.
      const [seq, after] = readNumber(whole, i);
      if (seq < 0) continue;
      if (seq <= this.lastSeq) this.duplicates += 1;
      else {
        this.missing += seq - this.lastSeq - 1;
        this.lastSeq = seq;
      }
      if (this.sampled && whole[after] === SPACE) {
        const [sentAt] = readNumber(whole, after + 1);
        if (sentAt > 0) latencies.push((now - sentAt) / 1e6);
      }
    }
    this.events += events;
    if (events > 0 && awaiting !== undefined) awaiting.check(this);
  }
}

let subscribers: Subscriber[] = [];
let closedByPeer = 0;
let latencies: number[] = [];

class Awaiting {
  private readonly command: AwaitCommand;
  private readonly resolve: (result: Awaited) => void;
  private readonly timer: NodeJS.Timeout;
  private reached = 0;
  /** Open connections still to get there; one that closes meanwhile is counted out, and missing. */
  private need = 0;
  private lost = 0;
  private lastAtNs = 0;

  constructor(command: AwaitCommand, resolve: (result: Awaited) => void) {
    this.command = command;
    this.resolve = resolve;
    this.timer = setTimeout(() => this.finish(), command.timeoutMs);
  }

  /** Called once this is the current `awaiting`: some may be there already. */
  begin(): void {
    for (const subscriber of subscribers) {
      // Connections already gone are not waited for.
      subscriber.reached = !subscriber.established || subscriber.ended;
      if (!subscriber.reached) this.need += 1;
    }
    for (const subscriber of subscribers) this.check(subscriber);
    if (this.need === 0) this.finish();
  }

  check(subscriber: Subscriber): void {
    if (subscriber.reached || !subscriber.established) return;
    const value = this.command.by === 'events' ? subscriber.events : subscriber.lastSeq;
    if (value >= this.command.target) {
      this.reached += 1;
      this.lastAtNs = Number(process.hrtime.bigint());
    } else if (subscriber.ended) {
      this.lost += 1;
    } else {
      return;
    }
    subscriber.reached = true;
    if (--this.need === 0) this.finish();
  }

  private finish(): void {
    if (awaiting !== this) return;
    awaiting = undefined;
    clearTimeout(this.timer);
    this.resolve({ reached: this.reached, missing: this.need + this.lost, lastAtNs: this.lastAtNs });
  }
}

let awaiting: Awaiting | undefined;

function open(command: OpenCommand): Promise<Opened> {
  const started = performance.now();
  const request =
    `GET ${command.path} HTTP/1.1\r\nHost: 127.0.0.1:${command.port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n` +
    (command.lastEventId === undefined ? '' : `Last-Event-ID: ${command.lastEventId}\r\n`) +
    '\r\n';
  let next = 0;
  let inFlight = 0;
  let ok = 0;
  let failed = 0;
  let firstError: string | undefined;
  return new Promise((resolve) => {
    const deadline = setTimeout(() => finish(), command.timeoutMs);
    const finish = (): void => {
      clearTimeout(deadline);
      // Whatever did not get through in time counts as failed and is dropped.
      for (const subscriber of subscribers) {
        if (!subscriber.established && !subscriber.ended) {
          subscriber.ended = true;
          subscriber.socket.destroy();
          failed += 1;
        }
      }
      subscribers = subscribers.filter((s) => s.established);
      resolve({ ok, failed, firstError, ms: performance.now() - started });
    };
    const settle = (error: string | undefined): void => {
      inFlight -= 1;
      if (error === undefined) ok += 1;
      else {
        failed += 1;
        firstError ??= error;
      }
      if (ok + failed === command.count) finish();
      else launch();
    };
    const launch = (): void => {
      while (inFlight < command.concurrency && next < command.count) {
        const index = next++;
        inFlight += 1;
        const socket = connect({ host: '127.0.0.1', port: command.port, localAddress: nextAddress() });
        const subscriber = new Subscriber(socket, index % command.sampleEvery === 0, command.trackSeq, command.resumeSeq);
        subscribers.push(subscriber);
        let settled = false;
        socket.once('connect', () => socket.write(request));
        socket.on('data', (chunk: Buffer) => {
          const status = subscriber.receive(chunk);
          if (settled || status === 0) return;
          settled = true;
          if (status === 200) settle(undefined);
          else {
            subscriber.ended = true;
            socket.destroy();
            settle(`HTTP ${status}`);
          }
        });
        socket.on('error', (error: NodeJS.ErrnoException) => {
          if (!settled) firstError ??= error.code ?? error.message;
        });
        socket.on('close', () => {
          if (!subscriber.ended && subscriber.established) closedByPeer += 1;
          subscriber.ended = true;
          if (!settled) {
            settled = true;
            settle(firstError ?? 'closed before answering');
          }
          awaiting?.check(subscriber);
        });
      }
    };
    if (command.count === 0) finish();
    else launch();
  });
}

function stats(): Stats {
  let open = 0;
  let events = 0;
  let bytes = 0;
  let minBlocks = Infinity;
  let belowTwo = 0;
  let duplicates = 0;
  let missing = 0;
  for (const subscriber of subscribers) {
    events += subscriber.events;
    bytes += subscriber.bytes;
    duplicates += subscriber.duplicates;
    missing += subscriber.missing;
    if (subscriber.ended) continue;
    open += 1;
    const since = subscriber.blocks - subscriber.markedBlocks;
    minBlocks = Math.min(minBlocks, since);
    if (since < 2) belowTwo += 1;
  }
  const drained = latencies;
  latencies = [];
  return {
    open,
    closedByPeer,
    events,
    bytes,
    minBlocksSinceMark: open === 0 ? 0 : minBlocks,
    belowTwoSinceMark: belowTwo,
    duplicates,
    missing,
    latenciesMs: drained,
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
  };
}

function closeAll(): void {
  for (const subscriber of subscribers) {
    subscriber.ended = true;
    subscriber.socket.destroy();
  }
  subscribers = [];
  closedByPeer = 0;
  latencies = [];
}

async function run(command: Command): Promise<Reply['result']> {
  switch (command.type) {
    case 'open':
      return open(command);
    case 'await':
      return new Promise<Awaited>((resolve) => {
        awaiting = new Awaiting(command, resolve);
        awaiting.begin();
      });
    case 'mark':
      for (const subscriber of subscribers) subscriber.markedBlocks = subscriber.blocks;
      return null;
    case 'stats':
      return stats();
    case 'close':
      closeAll();
      return null;
  }
}

process.on('message', (message: Request) => {
  void run(message.command).then((result) => process.send?.({ id: message.id, result } satisfies Reply));
});
process.on('disconnect', () => process.exit(0));
setTimeout(() => process.exit(0), LIFETIME_MS).unref();
