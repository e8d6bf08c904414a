/**
 * A cluster worker's main module (forked by primary.ts): a whole gateway instance on the shared
 * Redis log, listening on the port node:cluster shares. It gets its config from the primary,
 * so every worker runs exactly the configuration the operator's `serve` resolved.
 */
import { AggregatorRegistry } from 'prom-client';
import { GatewayError } from '../errors.ts';
import { createGateway } from '../gateway.ts';
import { exitAfter, exitOnStopSignals } from '../lifecycle.ts';
import { createLogger } from '../logger.ts';
import { isMessage, type ToPrimary, type ToWorker } from './messages.ts';

type ConfigMessage = Extract<ToWorker, { type: 'sseg:config' }>;
type MetricsMessage = Extract<ToWorker, { type: 'sseg:metrics' }>;

/** How long /metrics waits for the primary to gather every worker's figures (prom-client gives up at 5 s). */
const METRICS_TIMEOUT_MS = 6_000;

// Constructed for its side effect: prom-client then answers the primary's requests for this worker's figures.
new AggregatorRegistry();

const { config, index } = await new Promise<ConfigMessage>((resolve) => {
  const onMessage = (message: unknown): void => {
    if (!isMessage<ConfigMessage>(message, 'sseg:config')) return;
    process.off('message', onMessage);
    resolve(message);
  };
  process.on('message', onMessage);
});

const logger = createLogger(config.log.level).child({ worker: index });
const toPrimary = (message: ToPrimary): void => {
  if (process.connected) process.send?.(message);
};

const pendingMetrics = new Map<number, (message: MetricsMessage) => void>();
let nextRequestId = 0;
/** Every worker's metrics, summed by the primary: a scrape lands on one worker, and must see them all. */
const clusterMetrics = (): Promise<string> =>
  new Promise((resolve, reject) => {
    const requestId = nextRequestId++;
    const timer = setTimeout(() => {
      pendingMetrics.delete(requestId);
      reject(new GatewayError('SSEG_UNAVAILABLE', 'the metrics of the other workers did not arrive in time; scrape again'));
    }, METRICS_TIMEOUT_MS);
    pendingMetrics.set(requestId, (answer) => {
      clearTimeout(timer);
      if (answer.text === undefined) reject(new GatewayError('SSEG_UNAVAILABLE', 'the metrics of the other workers could not be gathered; scrape again'));
      else resolve(answer.text);
    });
    toPrimary({ type: 'sseg:metrics-request', requestId });
  });

const gateway = createGateway(config, {
  logger,
  announce: false,
  // One upstream connection per app stream for the whole gateway, not one per worker.
  upstreamSse: index === 0,
  metricsText: clusterMetrics,
});
AggregatorRegistry.setRegistries([gateway.metrics.registry]);

const graceMs = config.server.shutdownTimeout + 5_000;
const stop = (): void => exitAfter(() => gateway.close(), graceMs, logger);
process.on('message', (message: unknown) => {
  if (isMessage<MetricsMessage>(message, 'sseg:metrics')) {
    pendingMetrics.get(message.requestId)?.(message);
    pendingMetrics.delete(message.requestId);
  } else if (isMessage(message, 'sseg:shutdown')) {
    stop();
  }
});
// The primary is gone (killed, or crashed): nobody would restart or drain us, so drain now.
process.once('disconnect', stop);
exitOnStopSignals(() => gateway.close(), graceMs, logger);

try {
  const url = await gateway.listen();
  toPrimary({ type: 'sseg:listening', url: url.href });
} catch (error) {
  logger.error({ err: error }, 'worker could not start');
  process.exit(1);
}
