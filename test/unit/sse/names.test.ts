import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../../src/errors.ts';
import { assertChannel, assertEventName, isValidChannel } from '../../../src/sse/names.ts';

function codeOf(run: () => void): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return error instanceof GatewayError ? error.code : 'not a GatewayError';
  }
}

describe('channel names', () => {
  it.each(['a', 'room:42', 'user@example.com/inbox', 'A-Z_a.z-0:9@/', 'x'.repeat(200)])('accepts %j', (name) => {
    expect(isValidChannel(name)).toBe(true);
    expect(codeOf(() => assertChannel(name))).toBeUndefined();
  });

  it.each(['', 'x'.repeat(201), 'has space', 'nul\u0000', 'new\nline', 'é', 'a?b', 'a#b', 'a%20b', 'zero\u200bwidth'])('refuses %j', (name) => {
    expect(codeOf(() => assertChannel(name))).toBe('SSEG_BAD_CHANNEL');
  });

  it('refuses non-strings', () => {
    expect(codeOf(() => assertChannel(42))).toBe('SSEG_BAD_CHANNEL');
    expect(codeOf(() => assertChannel(undefined))).toBe('SSEG_BAD_CHANNEL');
  });
});

describe('event names', () => {
  it.each(['message', 'user.updated', 'Ünïcode ok', 'with space'])('accepts %j', (name) => {
    expect(codeOf(() => assertEventName(name))).toBeUndefined();
  });

  it.each([
    ['a CR or LF that would inject an id: field', 'x\nid: 999'],
    ['a carriage return', 'x\rid: 1'],
    ['NUL', 'a\u0000b'],
    ['DEL', 'a\u007fb'],
    ['a C1 control', 'a\u0085b'],
    ['a zero-width space', 'a\u200bb'],
    ['a bidi override', '\u202eevil'],
    ['a byte order mark', '\ufeffmessage'],
    ['a line separator', 'a\u2028b'],
    ['a lone surrogate', 'a\ud800b'],
    ['the reserved gap name', 'gap'],
    ['an empty name', ''],
    ['an overlong name', 'n'.repeat(129)],
  ])('refuses %s', (_threat, name) => {
    expect(codeOf(() => assertEventName(name))).toBe('SSEG_BAD_EVENT_NAME');
  });
});
