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
  });

  it('trims only SP and HTAB around a value, as Node does (an NBSP stays; VT and FF Node refuses)', () => {
    const parsed = parseGetHead(head('GET /e HTTP/1.1', 'Host: gw', 'X-A: \t a \t', 'X-C: \u00a0c\u00a0'), socket);
    expect(parsed?.headers).toMatchObject({ 'x-a': 'a', 'x-c': '\u00a0c\u00a0' });
    expect(parseGetHead(head('GET /e HTTP/1.1', 'Host: gw', 'X-B: \u000bb\u000c'), socket)).toBeUndefined();
  });

  it('reads a header named like an Object property as nothing but a header', () => {
    expect(parseGetHead(head('GET /e HTTP/1.1', 'Host: gw', 'Constructor-X: 1'), socket)?.headers['constructor-x']).toBe('1');
  });

  it('takes HTTP/1.0 without Host', () => {
    expect(parseGetHead('GET /events/a HTTP/1.0', socket)?.httpVersion).toBe('1.0');
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
    ['too many headers', head('GET /e HTTP/1.1', 'Host: x', ...Array.from({ length: 100 }, (_, i) => `X-${i}: 1`))],
    ['HTTP/1.1 without Host', head('GET /e HTTP/1.1', 'Accept: */*')],
    ['a repeated header (Node merges each its own way)', head('GET /e HTTP/1.1', 'Host: x', 'Origin: a', 'Origin: b')],
    ['a repeated Cookie', head('GET /e HTTP/1.1', 'Host: x', 'Cookie: a=1', 'Cookie: b=2')],
    ['a repeated Content-Length', head('GET /e HTTP/1.1', 'Host: x', 'Content-Length: 0', 'Content-Length: 0')],
    ['a header named constructor', head('GET /e HTTP/1.1', 'Host: x', 'constructor: 1')],
    ['a header named __proto__', head('GET /e HTTP/1.1', 'Host: x', '__proto__: 1')],
    ['Expect: 100-continue', head('GET /e HTTP/1.1', 'Host: x', 'Expect: 100-continue')],
    ...['\u0000', '\u0001', '\u001b', '\u007f', '\n', '\r'].map((byte): [string, string] => [
      `byte ${JSON.stringify(byte)} in a value`,
      head('GET /e HTTP/1.1', 'Host: x', `X-A: a${byte}b`),
    ]),
  ])('leaves %s to Node', (_case, text) => {
    expect(parseGetHead(text, socket)).toBeUndefined();
  });
});
