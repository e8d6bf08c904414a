import type { Logger } from './logger.ts';

/**
 * SIGTERM and SIGINT run `close` once, then exit 0 (1 if it failed). `graceMs` bounds the wait
 * beyond close's own deadline: a bug in close must not leave the process hanging forever.
 */
export function exitOnStopSignals(close: () => Promise<void>, graceMs: number, logger: Logger): void {
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'signal received');
    exitAfter(close, graceMs, logger);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** Runs `close`, then exits with its outcome; a timer of `graceMs` exits 1 if it never settles. */
export function exitAfter(close: () => Promise<void>, graceMs: number, logger: Logger): void {
  setTimeout(() => process.exit(1), graceMs).unref();
  close().then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    },
  );
}
