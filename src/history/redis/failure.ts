import { GatewayError } from '../../errors.ts';

/**
 * How a failed Redis command shows. In a log line: its message only, never the command or its
 * arguments, which carry event data (the ingresses that share the log's connection log theirs the
 * same way). To a client: SSEG_UNAVAILABLE, a 503 that says nothing of Redis's internals.
 */
export function errorInfo(error: unknown): { message: string } {
  return { message: error instanceof Error ? error.message : String(error) };
}

/** An append that failed, or could not be sent: possibly stored if the reply alone was lost, but never reported as stored when it may not be. */
export function appendUnavailable(): GatewayError {
  return new GatewayError('SSEG_UNAVAILABLE', 'the shared event log (Redis) is unreachable; the event was not stored, retry later', { 'Retry-After': '1' });
}

/** A replay read that failed: the stream's headers are out, so this ends it; the client retries with the same Last-Event-ID and loses nothing. */
export function replayUnavailable(): GatewayError {
  return new GatewayError('SSEG_UNAVAILABLE', 'the shared event log (Redis) is unreachable; reconnect later');
}
