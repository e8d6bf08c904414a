import type { Delivery } from '../hub/hub.ts';
import type { Metrics } from './metrics.ts';

/**
 * What one fan-out of a delivery to `subscribers` streams adds to the metrics. Counted once per
 * delivery, after the fan-out loop, rather than once per client inside it.
 */
export function recordFanout(metrics: Metrics): (delivery: Delivery, subscribers: number) => void {
  return (delivery, subscribers) => {
    metrics.eventsDelivered.inc(subscribers * delivery.events.length);
    metrics.bytesWritten.inc(subscribers * delivery.frames.length);
    metrics.fanoutBatch.observe(delivery.events.length);
    const now = process.hrtime.bigint();
    for (const event of delivery.events) metrics.publishToWrite.observe(Number(now - event.acceptedAt) / 1e9);
  };
}
