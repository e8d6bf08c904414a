import { describe, expect, it } from 'vitest';
import { toEvent } from '../../../src/ingress/redis-pubsub.ts';

describe('a Redis Pub/Sub message as an event', () => {
  it('reads a JSON envelope {"event"?, "data"}, serialising non-string data once', () => {
    expect(toEvent('orders', '{"event":"created","data":{"id":1}}', '')).toEqual({ channel: 'orders', event: 'created', data: '{"id":1}' });
    expect(toEvent('orders', '{"data":"text"}', '')).toEqual({ channel: 'orders', event: undefined, data: 'text' });
  });

  it('takes anything that is not exactly an envelope as the raw data', () => {
    expect(toEvent('c', 'plain', '')).toEqual({ channel: 'c', data: 'plain' });
    expect(toEvent('c', '{"data":1,"other":2}', '')).toEqual({ channel: 'c', data: '{"data":1,"other":2}' });
    expect(toEvent('c', '{not json', '')).toEqual({ channel: 'c', data: '{not json' });
    expect(toEvent('c', '[1,2]', '')).toEqual({ channel: 'c', data: '[1,2]' });
  });

  it('strips the configured prefix from the Redis channel name, and only a leading one', () => {
    expect(toEvent('app:news', 'x', 'app:')?.channel).toBe('news');
    expect(toEvent('other:app:news', 'x', 'app:')?.channel).toBe('other:app:news');
  });

  it('refuses an event name that could inject a field or is reserved', () => {
    expect(toEvent('c', '{"event":"a\\ndata: injected","data":"x"}', '')).toBeUndefined();
    expect(toEvent('c', '{"event":"gap","data":"x"}', '')).toBeUndefined();
    expect(toEvent('c', '{"event":5,"data":"x"}', '')).toEqual({ channel: 'c', data: '{"event":5,"data":"x"}' });
  });

  it('refuses a channel name the gateway would not accept from a browser', () => {
    expect(toEvent('bad channel!', 'x', '')).toBeUndefined();
    expect(toEvent('app:', 'x', 'app:')).toBeUndefined();
  });
});
