import { Pool } from 'undici';
import type { Peer } from './peers/peers.ts';

/** Every bench event's data after its "<seq> <hrtime>": an ordinary small JSON-ish payload size. */
const PADDING = ' '.padEnd(80, 'x');

export interface Published {
  readonly seq: number;
  /** The peer's own id for the event, for Last-Event-ID. */
  readonly id: string;
  readonly sentAtNs: number;
}

/**
 * The app side: POSTs events over a small keep-alive pool, in the peer's own publish format.
 * Each event's data starts with its sequence number (loss and duplicate checks, the same for
 * every peer whatever its ids look like) and the send time (publish-to-receipt latency).
 */
export class Publisher {
  private readonly pool: Pool;
  private readonly peer: Peer;
  private readonly token: string;
  private seq = 0;
  inFlight = 0;

  constructor(peer: Peer, port: number, token: string, connections = 8) {
    this.peer = peer;
    this.token = token;
    // A server that stops answering fails the publish within seconds, not undici's default five minutes.
    this.pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1, headersTimeout: 10_000, bodyTimeout: 10_000 });
  }

  /** The last sequence number handed out. */
  get lastSeq(): number {
    return this.seq;
  }

  async publish(channel: string): Promise<Published> {
    const seq = ++this.seq;
    const sentAt = process.hrtime.bigint();
    const request = this.peer.publishRequest(channel, `${seq} ${sentAt}${PADDING}`);
    this.inFlight += 1;
    try {
      const response = await this.pool.request({
        path: request.path,
        method: 'POST',
        headers: { 'authorization': `Bearer ${this.token}`, 'content-type': request.contentType, 'accept': 'application/json' },
        body: request.body,
      });
      const text = await response.body.text();
      if (response.statusCode >= 300) throw new Error(`${this.peer.name}: publish answered ${response.statusCode}: ${text.slice(0, 200)}`);
      return { seq, id: this.peer.parseId(text), sentAtNs: Number(sentAt) };
    } finally {
      this.inFlight -= 1;
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
