import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { round, withHarness, type Scenario } from './scenario.ts';

const CHANNEL = 'storm';
const BEHIND = 100;
/** Published while the clients come back, so the replay-to-live seam is under test too. */
const LIVE = 20;
const LIVE_INTERVAL_MS = 20;

/**
 * Reconnect storm: N clients hold a stream, all drop, 100 events are published, then all come
 * back at once with Last-Event-ID of the last event they had, while 20 more go out live. Every
 * connection parses sequence numbers, so loss and duplicates are exact; "caught up" is when the
 * last client has the last of the 100 missed events.
 */
export const storm: Scenario = {
  name: 'storm',
  title: 'Reconnect storm',
  run: (context) => {
    const clients = context.quick ? 1_000 : 5_000;
    const label = clients.toLocaleString('en');
    return withHarness(context, `storm-${clients}`, clients, async ({ server, fleet, publisher }) => {
      const subscribe = { port: server.port, path: `/events/${CHANNEL}`, count: clients, sampleEvery: clients + 1, trackSeq: true, timeoutMs: 60_000 };
      await fleet.open({ ...subscribe, resumeSeq: 0, concurrency: 500 });
      const resumePoint = await publisher.publish(CHANNEL);
      await fleet.awaitAll({ by: 'seq', target: resumePoint.seq, timeoutMs: 15_000 });
      await fleet.close();
      await sleep(500);
      for (let i = 0; i < BEHIND; i += 1) await publisher.publish(CHANNEL);
      const lastMissed = publisher.lastSeq;

      const overflowsBefore = listenOverflows();
      const started = process.hrtime.bigint();
      // Everyone at once: the whole fleet connects concurrently.
      const reopening = fleet.open({ ...subscribe, resumeSeq: resumePoint.seq, lastEventId: resumePoint.id, concurrency: clients });
      const live = (async () => {
        for (let i = 0; i < LIVE; i += 1) {
          await publisher.publish(CHANNEL);
          await sleep(LIVE_INTERVAL_MS);
        }
      })();
      const opened = await reopening;
      // Connections the kernel refused because the server's accept queue was full: each costs its client a SYN retry (1 s, then 3 s).
      const overflows = listenOverflows() - overflowsBefore;
      context.log(`  ${label} reconnected: ${opened.ok} ok, ${opened.failed} failed in ${Math.round(opened.ms)} ms`);
      const caughtUp = await fleet.awaitAll({ by: 'seq', target: lastMissed, timeoutMs: 30_000 });
      await live;
      const finished = await fleet.awaitAll({ by: 'seq', target: publisher.lastSeq, timeoutMs: 10_000 });
      const stats = await fleet.stats();
      // Without resume, a client "reaches" the last missed seq by skipping to live events: no catch-up to time.
      const catchUpMs = caughtUp.missing === 0 && context.peer.resumes ? (caughtUp.lastAtNs - Number(started)) / 1e6 : null;
      const catchUpNote = !context.peer.resumes ? 'no resume by Last-Event-ID' : `${caughtUp.missing} clients never got the last missed event`;
      // Each client should have every event after its resume point exactly once.
      const lost = Math.max(0, opened.ok * (publisher.lastSeq - resumePoint.seq) - (stats.events - stats.duplicates));
      return {
        measurements: [
          {
            metric: `storm of ${label}: time until all caught up (${BEHIND} behind)`,
            unit: 'ms',
            better: 'lower',
            value: catchUpMs === null ? null : round(catchUpMs),
            ...(catchUpMs === null ? { note: catchUpNote } : {}),
          },
          {
            metric: `storm of ${label}: events lost`,
            unit: 'events',
            better: 'lower',
            value: lost,
            ...(context.peer.resumes ? {} : { note: 'no resume by Last-Event-ID' }),
          },
          { metric: `storm of ${label}: duplicates`, unit: 'events', better: 'lower', value: stats.duplicates },
          { metric: `storm of ${label}: clients incomplete at the end`, unit: 'clients', better: 'lower', value: finished.missing + opened.failed },
          { metric: `storm of ${label}: accept-queue overflows (SYNs dropped, retried by clients)`, unit: 'SYNs', better: 'lower', value: overflows },
        ],
        detail: { clients, behind: BEHIND, live: LIVE, opened, overflows, caughtUp, finished, stats: { ...stats, latenciesMs: undefined } },
      };
    });
  },
};

/** The kernel's count of SYNs dropped because a listening socket's accept queue was full (machine-wide; nothing else here opens thousands at once). */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('TcpExt:'));
  const names = lines[0]?.split(' ') ?? [];
  const values = lines[1]?.split(' ') ?? [];
  return Number(values[names.indexOf('ListenOverflows')] ?? 0);
}
