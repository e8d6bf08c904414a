import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './reply.ts';

/**
 * `/healthz` (the process runs) and `/readyz` (it should get traffic), and the one draining
 * flag every pipeline reads: once the gateway drains, readiness goes false first so a load
 * balancer stops sending before streams and publishes are refused.
 */
export class Health {
  private drained = false;
  private readonly logReady: () => boolean;

  /** `logReady`: false while the log cannot take appends (src/history: a shared log's store is unreachable). */
  constructor(logReady: () => boolean) {
    this.logReady = logReady;
  }

  get draining(): boolean {
    return this.drained;
  }

  /** For the pipelines, which ask at each request. */
  readonly isDraining = (): boolean => this.draining;

  drain(): void {
    this.drained = true;
  }

  live = (_request: IncomingMessage, response: ServerResponse): void => {
    sendJson(response, 200, { status: 'ok' });
  };

  ready = (_request: IncomingMessage, response: ServerResponse): void => {
    if (this.draining) sendJson(response, 503, { status: 'draining' });
    else if (!this.logReady()) sendJson(response, 503, { status: 'unavailable', reason: 'the shared event log (Redis) is unreachable' });
    else sendJson(response, 200, { status: 'ready' });
  };
}
