import { describe, expect, it } from 'vitest';
import { MemoryTicketStore, TicketAuthenticator } from '../../../src/auth/ticket.ts';

function setup(max = 10) {
  let now = 1_000_000;
  const clock = () => now;
  const store = new MemoryTicketStore(max, clock);
  const tickets = new TicketAuthenticator(store, 30_000, { now: clock });
  const redeem = (ticket: string, channels = ['a']) => tickets.authenticate({ headers: {}, url: new URL(`http://gw/events/a?ticket=${ticket}`), channels });
  return { store, tickets, redeem, advance: (ms: number) => (now += ms) };
}

describe('tickets', () => {
  it('redeems once: the second use is refused', async () => {
    const { tickets, redeem } = setup();
    const { ticket } = await tickets.issue({ subject: 's', channels: ['a'] });
    const principal = await redeem(ticket);
    expect(principal?.subject).toBe('s');
    expect(principal?.grants.allows('a')).toBe(true);
    await expect(redeem(ticket)).rejects.toMatchObject({ code: 'SSEG_UNAUTHORIZED' });
  });

  it('refuses a ticket after its ttl, and caps a requested ttl at the configured one', async () => {
    const { tickets, redeem, advance } = setup();
    const { ticket } = await tickets.issue({ subject: 's', channels: ['a'], ttl: 3_600 });
    advance(30_001);
    await expect(redeem(ticket)).rejects.toMatchObject({ code: 'SSEG_UNAUTHORIZED' });
    const short = await tickets.issue({ subject: 's', channels: ['a'], ttl: 2 });
    advance(1_999);
    await expect(redeem(short.ticket)).resolves.toBeDefined();
  });

  it('answers undefined without a ticket (the next mode is tried) and refuses one of the wrong shape', async () => {
    const { tickets, redeem } = setup();
    expect(await tickets.authenticate({ headers: {}, url: new URL('http://gw/events/a'), channels: ['a'] })).toBeUndefined();
    await expect(redeem('short')).rejects.toMatchObject({ code: 'SSEG_UNAUTHORIZED' });
  });

  it('is bounded: a full store refuses, and sweeping expired tickets makes room', async () => {
    const { tickets, store, advance } = setup(2);
    await tickets.issue({ subject: 's', channels: ['a'] });
    await tickets.issue({ subject: 's', channels: ['a'] });
    await expect(tickets.issue({ subject: 's', channels: ['a'] })).rejects.toMatchObject({ code: 'SSEG_TICKETS_FULL' });
    advance(30_001);
    await expect(tickets.issue({ subject: 's', channels: ['a'] })).resolves.toBeDefined();
    expect(store.size).toBe(1);
  });
});
