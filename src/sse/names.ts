import { GatewayError } from '../errors.ts';

/** 1-200 characters of A-Z a-z 0-9 _ . : @ / -: safe in a URL path, a Redis key and a log line. */
const CHANNEL_PATTERN = /^[A-Za-z0-9_.:@/-]{1,200}$/;

/**
 * C0, DEL and C1 controls (`\p{Cc}`), invisible format characters such as zero-width joiners and
 * bidi overrides (`\p{Cf}`), and Unicode line/paragraph separators. A CR or LF in an event name
 * would inject a field (a spoofed `id:` moves every client's Last-Event-ID); the invisible ones
 * make two names that look equal differ.
 */
const FORBIDDEN_IN_NAME = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

export const MAX_EVENT_NAME_LENGTH = 128;

/** Event names the gateway itself sends; a publisher may not forge them. */
const RESERVED_EVENT_NAMES = new Set(['gap']);

export function isValidChannel(name: string): boolean {
  return CHANNEL_PATTERN.test(name);
}

export function assertChannel(name: unknown, where = 'channel'): asserts name is string {
  if (typeof name !== 'string' || !CHANNEL_PATTERN.test(name)) {
    const shown = typeof name === 'string' ? JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}...` : name) : typeof name;
    throw new GatewayError('SSEG_BAD_CHANNEL', `${where} ${shown} is not a valid channel name: use 1-200 characters of A-Z a-z 0-9 _ . : @ / -`);
  }
}

export function assertEventName(name: unknown, where = 'event'): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_EVENT_NAME_LENGTH) {
    throw new GatewayError('SSEG_BAD_EVENT_NAME', `${where} must be a string of 1-${MAX_EVENT_NAME_LENGTH} characters`);
  }
  if (!name.isWellFormed()) throw new GatewayError('SSEG_BAD_EVENT_NAME', `${where} is not valid Unicode (lone surrogate)`);
  if (FORBIDDEN_IN_NAME.test(name)) {
    throw new GatewayError('SSEG_BAD_EVENT_NAME', `${where} contains a control or invisible formatting character`);
  }
  if (RESERVED_EVENT_NAMES.has(name)) throw new GatewayError('SSEG_BAD_EVENT_NAME', `${where} "${name}" is reserved for the gateway`);
}
