import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseGetHead } from '../../../src/http/request-head.ts';

const socket = new Socket();
const head = (...lines: string[]): string => lines.join('\r\n');

describe('parseGetHead', () => {
  it('reads the target, version and headers, names lowercased and values trimmed', () => {
    const parsed = parseGetHead(head('GET /events/a?x=1 HTTP/1.1', 'Host: gw', 'Last-Event-ID:  e-5 ', 'X-Empty:'), socket);
    expect(parsed).toMatchObject({ method: 'GET', url: '/events/a?x=1', httpVersion: '1.1' });
    expect(parsed?.headers).toEqual({ 'host': 'gw', 'last-event-id': 'e-5', 'x-empty': '' });
    expect(parseGetHead('GET /events/a HTTP/1.0', socket)?.httpVersion).toBe('1.0');
  });

  it('joins repeated cookies with "; " and other lists with ", "', () => {
    const parsed = parseGetHead(head('GET /e HTTP/1.1', 'Cookie: a=1', 'Cookie: b=2', 'Accept: x', 'Accept: y'), socket);
    expect(parsed?.headers.cookie).toBe('a=1; b=2');
    expect(parsed?.headers.accept).toBe('x, y');
  });

  it('keeps the first of headers that must not be merged, as Node does', () => {
    const parsed = parseGetHead(head('GET /e HTTP/1.1', 'Authorization: Bearer first', 'Authorization: Bearer second', 'Last-Event-ID: a-1', 'Last-Event-ID: a-9'), socket);
    expect(parsed?.headers.authorization).toBe('Bearer first');
    expect(parsed?.headers['last-event-id']).toBe('a-1');
  });

  it.each([
    ['another method', head('POST /e HTTP/1.1', 'Host: x')],
    ['HTTP/2 preface', 'PRI * HTTP/2.0'],
    ['a relative target', 'GET events HTTP/1.1'],
    ['a space in the target', 'GET /e vents HTTP/1.1'],
    ['obsolete line folding', head('GET /e HTTP/1.1', 'X-A: 1', ' continued')],
    ['a header without a colon', head('GET /e HTTP/1.1', 'Nonsense')],
    ['a bad header name', head('GET /e HTTP/1.1', 'Bad Name: 1')],
    ['a body (Content-Length)', head('GET /e HTTP/1.1', 'Content-Length: 5')],
    ['a chunked body', head('GET /e HTTP/1.1', 'Transfer-Encoding: chunked')],
    ['an upgrade', head('GET /e HTTP/1.1', 'Upgrade: websocket', 'Connection: Upgrade')],
    ['too many headers', head('GET /e HTTP/1.1', ...Array.from({ length: 101 }, (_, i) => `X-${i}: 1`))],
  ])('leaves %s to Node', (_case, text) => {
    expect(parseGetHead(text, socket)).toBeUndefined();
  });
});
