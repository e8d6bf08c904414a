import { type Measurement, round, type Scenario, subscribe, withHarness } from './scenario.ts';

const CHANNEL = 'publish';
/** Publish requests kept in flight, as a busy app with a connection pool would. */
const CONCURRENCY = 16;

/**
 * Publish: how many webhook publishes per second the server accepts, with 1 and with 1,000
 * subscribers on the channel (the second includes the fan-out each publish triggers).
 */
export const publish: Scenario = {
  name: 'publish',
  title: 'Webhook publish',
  run: async (context) => {
    const sizes = context.quick ? [1, 500] : [1, 1_000];
    const seconds = context.quick ? 2 : 5;
    const measurements: Measurement[] = [];
    const detail: Record<string, unknown> = {};
    for (const subscribers of sizes) {
      const label = subscribers.toLocaleString('en');
      await withHarness(context, `publish-${subscribers}`, subscribers, async (harness) => {
        const { fleet, publisher } = harness;
        const opened = await subscribe(harness, CHANNEL, subscribers, subscribers + 1);
        let accepted = 0;
        let failed = 0;
        const started = performance.now();
        const deadline = started + seconds * 1000;
        // Closed loop: each of CONCURRENCY lanes publishes again as soon as its answer arrives, until the deadline.
        await Promise.all(
          Array.from({ length: CONCURRENCY }, async () => {
            while (performance.now() < deadline) {
              try {
                await publisher.publish(CHANNEL);
                accepted += 1;
              } catch {
                failed += 1;
              }
            }
          }),
        );
        const elapsed = (performance.now() - started) / 1000;
        const delivered = await fleet.awaitAll({ by: 'events', target: accepted, timeoutMs: 10_000 });
        const perSecond = accepted / elapsed;
        context.log(`  ${label} subscribers: ${Math.round(perSecond)} publishes/s, ${failed} failed, ${delivered.missing} subscribers short`);
        const notes = [failed > 0 ? `${failed} refused` : '', delivered.missing > 0 ? `${delivered.missing} subscribers did not get every event` : ''].filter(
          Boolean,
        );
        measurements.push({
          metric: `publish with ${label} subscriber${subscribers === 1 ? '' : 's'}`,
          unit: 'publishes/s',
          better: 'higher',
          value: round(perSecond, 0),
          ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
        });
        detail[`subscribers${subscribers}`] = { opened, seconds: round(elapsed, 2), accepted, failed, delivered };
      });
    }
    return { measurements, detail };
  },
};
