import { describe, expect, it } from 'vitest';
import { encodeEvent, encodePreamble, encodeRetry, HEARTBEAT, STREAM_HEADERS } from '../../../src/sse/encode.ts';

const text = (buffer: Buffer): string => buffer.toString('utf8');

describe('encodeEvent', () => {
  it('writes id, event and data, ending with a blank line', () => {
    expect(text(encodeEvent('e-1', 'greet', 'hello'))).toBe('id: e-1\nevent: greet\ndata: hello\n\n');
  });

  it('omits event: when the event has no name', () => {
    expect(text(encodeEvent('e-2', undefined, 'x'))).toBe('id: e-2\ndata: x\n\n');
  });

  it('splits data on LF, CR and CRLF alike, one data: line per line', () => {
    expect(text(encodeEvent('e-3', undefined, 'a\nb\rc\r\nd'))).toBe('id: e-3\ndata: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  it('keeps empty lines and leading spaces of data', () => {
    expect(text(encodeEvent('e-4', undefined, '\n  two\n'))).toBe('id: e-4\ndata: \ndata:   two\ndata: \n\n');
  });

  it('encodes as UTF-8', () => {
    expect(encodeEvent('e-5', undefined, 'é✓😀').equals(Buffer.from('id: e-5\ndata: é✓😀\n\n', 'utf8'))).toBe(true);
  });
});

describe('static frames', () => {
  it('opens with a comment and the retry hint', () => {
    expect(text(encodePreamble(3000))).toBe(':ok\nretry: 3000\n\n');
  });

  it('has a comment heartbeat and a rounded retry', () => {
    expect(text(HEARTBEAT)).toBe(':\n\n');
    expect(text(encodeRetry(4321.7))).toBe('retry: 4322\n\n');
  });

  it('declares buffering-safe headers', () => {
    expect(STREAM_HEADERS).toEqual({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
  });
});
