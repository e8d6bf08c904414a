/**
 * One way events come in (src/ingress/*): it turns outside input into `History.append` calls
 * and nothing else. The gateway starts every ingress once the log runs, and closes them before
 * the log: an ingress that acknowledges its source does so only once the event is in the log.
 */
export interface Ingress {
  /** A bounded, bounded-cardinality name for logs and metric labels (`webhook`, `redis-pubsub`, ...). */
  readonly name: string;
  /** Resolves once the ingress takes input (a lease-holding one may still be waiting for its lease). */
  start(): Promise<void>;
  /** Stops taking input and resolves once what it accepted is answered; idempotent. */
  close(): Promise<void>;
}
