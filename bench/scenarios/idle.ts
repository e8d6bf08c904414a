import { setTimeout as sleep } from 'node:timers/promises';
import { round, type Scenario, subscribe, withHarness } from './scenario.ts';

/**
 * Idle: hold N streams that carry nothing but heartbeats. Memory per connection is the growth
 * of the server's process tree RSS over its fresh baseline, divided by N; every stream must
 * stay open through several heartbeat periods and receive at least two heartbeats.
 */
export const idle: Scenario = {
  name: 'idle',
  title: 'Idle connections',
  run: (context) => {
    const connections = context.quick ? 1_000 : 10_000;
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
          { metric: `idle: RSS per connection (${connections.toLocaleString('en')} open)`, unit: 'KB', better: 'lower', value: perConnectionKb === null ? null : round(perConnectionKb) },
          { metric: 'idle: connections held through 3 heartbeats', unit: '%', better: 'higher', value: round((100 * stats.open) / connections, 2) },
          { metric: 'idle: open streams with < 2 heartbeats', unit: 'streams', better: 'lower', value: stats.belowTwoSinceMark },
          { metric: 'idle: time to open all', unit: 's', better: 'lower', value: round(opened.ms / 1000, 2) },
        ],
        detail: { connections, opened, baselineRss: baseline, loadedRss: loaded, stats: { ...stats, latenciesMs: undefined } },
      };
    });
  },
};
