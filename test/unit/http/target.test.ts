import { describe, expect, it } from 'vitest';
import { parseTarget } from '../../../src/http/router.ts';

const inEvents = (pathname: string): boolean => pathname.startsWith('/events/');

describe('parseTarget', () => {
  it.each([
    ['a backslash (WHATWG reads it as /)', '/events\\..\\metrics'],
    ['a .. segment', '/events/../metrics'],
    ['a . segment', '/events/./fz'],
    ['a trailing . segment', '/metrics/.'],
    ['a percent-encoded .. segment', '/events/%2e%2E/healthz'],
    ['.. behind an encoded slash (nginx decodes it)', '/events/..%2fmetrics'],
    ['an encoded slash outside a channel', '/publish%2F'],
    ['an encoded backslash outside a channel', '/metrics%5c'],
    ['the same in absolute form', 'http://gw/events/../metrics'],
  ])('refuses %s', (_case, target) => {
    expect(parseTarget(target, inEvents)).toBeUndefined();
  });

  it.each([
    ['a plain stream', '/events/orders', '/events/orders'],
    ['an encoded slash inside a channel', '/events/a%2Fb', '/events/a%2Fb'],
    ['dots inside a name', '/events/a.b..c', '/events/a.b..c'],
    ['dots in the query', '/events/fz?lastEventId=..', '/events/fz'],
    ['characters the parser only encodes', '/search/{id}"^`<>', '/search/%7Bid%7D%22%5E%60%3C%3E'],
    ['absolute form', 'http://gw/healthz', '/healthz'],
  ])('takes %s', (_case, target, pathname) => {
    expect(parseTarget(target, inEvents)?.pathname).toBe(pathname);
  });
});
