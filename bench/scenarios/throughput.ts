import { setTimeout as sleep } from 'node:timers/promises';
import { summarize } from '../latency.ts';
import { profileClockUs, round, type Scenario, subscribe, withHarness } from './scenario.ts';

const CHANNEL = 'throughput';
/** Doubling steps; the first one that fails ends the climb. */
const RATES = [25, 50, 100, 200, 400, 800, 1_600, 3_200, 6_400];
const P99_LIMIT_MS = 50;
/** Publishes allowed in flight before the publisher waits: a server that cannot keep up shows as a missed rate. */
const MAX_IN_FLIGHT = 256;
const TICK_MS = 5;

interface Step {
  rate: number;
  attempt: number;
  achieved: number;
  p50: number;
  p99: number;
  max: number;
  lost: number;
  publishFailures: number;
  /** Server CPU over the step, as a share of one core. */
  serverCpu: number;
  /** The load generators' CPU over the step, in cores: near 2 would mean the client, not the server, is the limit. */
  loadgenCpu: number;
  held: boolean;
}

/**
 * Throughput: 1,000 subscribers on one channel; the event rate doubles step by step until p99
 * passes 50 ms, any delivery is lost, or the publisher cannot get the rate accepted (a step that
 * was only slow is tried once more). The result is the highest rate that held.
 */
export const throughput: Scenario = {
  name: 'throughput',
  title: 'Throughput',
  run: (context) => {
    const subscribers = context.quick ? 500 : 1_000;
    const stepSeconds = context.quick ? 2 : 4;
    return withHarness(context, `throughput-${subscribers}`, subscribers, async (harness) => {
      const { server, fleet, publisher } = harness;
      // A tenth of the streams parse timestamps: parsing every one would load the shared cores.
      const opened = await subscribe(harness, CHANNEL, subscribers, 10);
      await publisher.publish(CHANNEL);
      await fleet.awaitAll({ by: 'events', target: 1, timeoutMs: 15_000 });
      await fleet.stats();
      let expected = 1;
      let loadgenCpuBefore = (await fleet.stats()).cpuSeconds;
      const steps: Step[] = [];
      const runStep = async (rate: number, attempt: number): Promise<Step> => {
        const total = Math.round(rate * stepSeconds);
        const started = performance.now();
        const cpuBefore = server.cpuSeconds();
        const publishing: Array<Promise<unknown>> = [];
        let publishFailures = 0;
        let sent = 0;
        // Bounded in count (total) and in time (twice the step) whatever the server does.
        while (sent < total && performance.now() - started < stepSeconds * 2_000) {
          const due = Math.min(total, Math.floor((rate * (performance.now() - started)) / 1000) + 1);
          while (sent < due && publisher.inFlight < MAX_IN_FLIGHT) {
            publishing.push(publisher.publish(CHANNEL).catch(() => (publishFailures += 1)));
            sent += 1;
          }
          await sleep(TICK_MS);
        }
        await Promise.all(publishing);
        const seconds = (performance.now() - started) / 1000;
        const achieved = sent / seconds;
        const serverCpu = round((server.cpuSeconds() - cpuBefore) / seconds, 2);
        expected += sent - publishFailures;
        await fleet.awaitAll({ by: 'events', target: expected, timeoutMs: 5_000 });
        const stats = await fleet.stats();
        const loadgenCpu = round((stats.cpuSeconds - loadgenCpuBefore) / ((performance.now() - started) / 1000), 2);
        loadgenCpuBefore = stats.cpuSeconds;
        const latency = summarize(stats.latenciesMs);
        const lost = opened.ok * expected - stats.events;
        const held = latency.p99 <= P99_LIMIT_MS && lost <= 0 && publishFailures === 0 && sent === total && achieved >= rate * 0.9 && stats.closedByPeer === 0;
        const step = {
          rate,
          attempt,
          achieved: round(achieved),
          p50: round(latency.p50),
          p99: round(latency.p99),
          max: round(latency.max),
          lost,
          publishFailures,
          serverCpu,
          loadgenCpu,
          held,
        };
        steps.push(step);
        context.log(`  ${rate}/s: ${JSON.stringify(step)}`);
        return step;
      };
      const windowFrom = profileClockUs();
      for (const rate of RATES) {
        let step = await runStep(rate, 1);
        // A step that was only slow gets one more try: the cores are shared, and one stall should not end the climb.
        // A loss is never retried (it stays lost).
        if (!step.held && step.lost <= 0 && server.alive()) {
          await sleep(1_000);
          step = await runStep(rate, 2);
        }
        if (!step.held || !server.alive()) break;
        await sleep(500);
      }
      const profileWindowUs = [windowFrom, profileClockUs()];
      context.log(`  measured phase: --from ${profileWindowUs[0]} --to ${profileWindowUs[1]}`);
      const best = steps.filter((step) => step.held).at(-1);
      const lastFailed = steps.findLast((step) => !step.held);
      return {
        measurements: [
          {
            metric: `throughput to ${subscribers.toLocaleString('en')}: highest rate with p99 ≤ ${P99_LIMIT_MS} ms, no loss`,
            unit: 'events/s',
            better: 'higher',
            value: best?.rate ?? 0,
            ...(lastFailed ? { note: `${lastFailed.rate}/s failed: p99 ${lastFailed.p99} ms, ${lastFailed.lost} lost` } : {}),
          },
        ],
        detail: { subscribers, stepSeconds, opened, steps, profileWindowUs },
      };
    });
  },
};
