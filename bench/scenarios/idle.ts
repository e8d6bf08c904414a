import { setTimeout as sleep } from 'node:timers/promises';
import { type Measurement, round, type Scenario, type ScenarioContext, type ScenarioResult, subscribe, withHarness } from './scenario.ts';

/**
 * Idle: hold N streams that carry nothing but heartbeats. Memory per connection is the growth
 * of the server's process tree RSS over its fresh baseline, divided by N; every stream must
 * stay open through several heartbeat periods and receive at least two heartbeats.
 */
export const idle: Scenario = {
  name: 'idle',
  title: 'Idle connections',
  run: async (context) => {
    // 19,000 a server process: close to the 20,000 open files this machine allows each process.
    const sizes = context.quick ? [1_000] : [10_000, 19_000 * context.workers];
    const measurements: Measurement[] = [];
    const detail: Record<string, unknown> = {};
    for (const connections of sizes) {
      const result = await holdIdle(context, connections);
      measurements.push(...result.measurements);
      detail[String(connections)] = result.detail;
    }
    return { measurements, detail };
  },
};

function holdIdle(context: ScenarioContext, connections: number): Promise<ScenarioResult> {
  const label = connections.toLocaleString('en');
  return withHarness(context, `idle-${connections}`, connections, async (harness) => {
    const { server, fleet } = harness;
    await sleep(500);
    const baseline = server.rss();
    const opened = await subscribe(harness, 'idle', connections, connections + 1);
    context.log(`  opened ${opened.ok}/${connections} in ${Math.round(opened.ms)} ms${opened.firstError ? ` (first error: ${opened.firstError})` : ''}`);
    await sleep(1_000);
    const loaded = server.rss();
    await fleet.mark();
    // Three heartbeat periods and a second: every stream must show at least two heartbeats.
    await sleep((context.heartbeatSeconds * 3 + 1) * 1_000);
    const stats = await fleet.stats();
    const perConnectionKb = opened.ok > 0 ? (loaded - baseline) / opened.ok / 1024 : null;
    return {
      measurements: [
        { metric: `idle: RSS per connection (${label} open)`, unit: 'KB', better: 'lower', value: perConnectionKb === null ? null : round(perConnectionKb) },
        { metric: `idle: of ${label}, held through 3 heartbeats`, unit: '%', better: 'higher', value: round((100 * stats.open) / connections, 2) },
        { metric: `idle: of ${label}, open streams with < 2 heartbeats`, unit: 'streams', better: 'lower', value: stats.belowTwoSinceMark },
        { metric: `idle: time to open ${label}`, unit: 's', better: 'lower', value: round(opened.ms / 1000, 2) },
      ],
      detail: { connections, opened, baselineRss: baseline, loadedRss: loaded, stats: { ...stats, latenciesMs: undefined } },
    };
  });
}
