import { describe, expect, it } from 'vitest';
import { bearerToken, cookieValue } from '../../../src/auth/authenticator.ts';
import { redactTarget } from '../../../src/auth/redact.ts';

describe('credentials from headers', () => {
  it('reads one cookie among several, quoted or not', () => {
    expect(cookieValue({ cookie: 'a=1; session=abc.def; b=2' }, 'session')).toBe('abc.def');
    expect(cookieValue({ cookie: 'session="quoted"' }, 'session')).toBe('quoted');
    expect(cookieValue({ cookie: 'xsession=1' }, 'session')).toBeUndefined();
    expect(cookieValue({ cookie: 'session=' }, 'session')).toBeUndefined();
    expect(cookieValue({}, 'session')).toBeUndefined();
  });

  it('reads a Bearer token case-insensitively, nothing else', () => {
    expect(bearerToken({ authorization: 'Bearer abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'bearer abc' })).toBe('abc');
    expect(bearerToken({ authorization: 'Basic abc' })).toBeUndefined();
    expect(bearerToken({ authorization: 'Bearer   ' })).toBeUndefined();
  });
});

describe('redactTarget', () => {
  it('replaces ticket and token parameters, keeps the rest', () => {
    const url = new URL('http://gw/events/a?channel=b&ticket=SECRET&lastEventId=1&jwt=TOKEN');
    const text = redactTarget(url, ['jwt']);
    expect(text).not.toContain('SECRET');
    expect(text).not.toContain('TOKEN');
    expect(text).toContain('channel=b');
    expect(text).toContain('lastEventId=1');
  });

  it('catches percent-encoded parameter names', () => {
    expect(redactTarget(new URL('http://gw/e?%74icket=SECRET'))).not.toContain('SECRET');
  });
});
