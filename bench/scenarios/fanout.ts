import { setTimeout as sleep } from 'node:timers/promises';
import { summarize } from '../latency.ts';
import { type Measurement, profileClockUs, round, sampleEvery, type Scenario, subscribe, withHarness } from './scenario.ts';

const CHANNEL = 'fanout';

/**
 * Fan-out: one event to every subscriber of a channel, one event at a time, for 1k and 10k
 * subscribers. p50/p99 come from the sampled connections' timestamps; max is when the very last
 * of all subscribers had the event (every connection counts, sampled or not).
 */
export const fanout: Scenario = {
  name: 'fanout',
  title: 'Fan-out',
  run: async (context) => {
    const sizes = context.quick ? [500, 2_000] : [1_000, 10_000];
    const events = context.quick ? 10 : 20;
    const measurements: Measurement[] = [];
    const detail: Record<string, unknown> = {};
    for (const subscribers of sizes) {
      const label = subscribers.toLocaleString('en');
      await withHarness(context, `fanout-${subscribers}`, subscribers, async (harness) => {
        const { server, fleet, publisher } = harness;
        const opened = await subscribe(harness, CHANNEL, subscribers, sampleEvery(subscribers));
        context.log(`  ${label} subscribers: opened ${opened.ok} in ${Math.round(opened.ms)} ms`);
        // One unmeasured event warms up every path (and the JIT) first.
        await publisher.publish(CHANNEL);
        await fleet.awaitAll({ by: 'events', target: 1, timeoutMs: 15_000 });
        await fleet.stats();

        const lastArrivals: number[] = [];
        let incomplete = 0;
        const cpuBefore = server.cpuSeconds();
        const windowFrom = profileClockUs();
        for (let i = 1; i <= events; i += 1) {
          const sent = await publisher.publish(CHANNEL);
          const done = await fleet.awaitAll({ by: 'events', target: i + 1, timeoutMs: 15_000 });
          incomplete += done.missing;
          if (done.reached > 0) lastArrivals.push((done.lastAtNs - sent.sentAtNs) / 1e6);
          await sleep(100);
        }
        const profileWindowUs = [windowFrom, profileClockUs()];
        context.log(`  measured phase: --from ${profileWindowUs[0]} --to ${profileWindowUs[1]}`);
        // Includes the server's idle work over the run (heartbeats, timers), which is small next to a fan-out.
        const cpuPerEventMs = ((server.cpuSeconds() - cpuBefore) * 1000) / events;
        const stats = await fleet.stats();
        const latency = summarize(stats.latenciesMs);
        const lastArrival = lastArrivals.length > 0 ? round(Math.max(...lastArrivals)) : null;
        measurements.push(
          { metric: `fan-out to ${label}: p50`, unit: 'ms', better: 'lower', value: round(latency.p50) },
          { metric: `fan-out to ${label}: p99`, unit: 'ms', better: 'lower', value: round(latency.p99) },
          {
            metric: `fan-out to ${label}: max (last subscriber)`,
            unit: 'ms',
            better: 'lower',
            value: lastArrival,
            ...(incomplete > 0 ? { note: `${incomplete} deliveries missing` } : {}),
          },
          { metric: `fan-out to ${label}: server CPU per event`, unit: 'ms', better: 'lower', value: round(cpuPerEventMs) },
        );
        detail[`subscribers${subscribers}`] = {
          opened,
          events,
          latency,
          cpuPerEventMs,
          profileWindowUs,
          lastArrivalsMs: lastArrivals.map((v) => round(v, 2)),
          incomplete,
          open: stats.open,
        };
      });
    }
    return { measurements, detail };
  },
};
