import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Credentials never reach a log line: headers that carry them and any field named like a
 * secret are censored by pino itself, so a careless `log.info({ req })` stays safe.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'token',
  'tokens',
  '*.token',
  '*.tokens',
  'config.publish.tokens',
  'config.publish.hmacSecrets',
  'config.auth.jwt.secret',
  'ticket',
  '*.ticket',
  'secret',
  '*.secret',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'sse-gateway' } };
  return destination === undefined ? pino(options) : pino(options, destination);
}
