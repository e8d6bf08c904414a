/**
 * Channel patterns, as grants are written in tokens, forward-auth answers, tickets and
 * `auth.public`: an exact channel name, or `/`-separated segments where `*` stands for exactly
 * one segment and `**` for one or more. `a/*` grants `a/b` but not `a/b/c` nor `a`; `a/**`
 * grants both `a/b` and `a/b/c`; `**` alone grants every channel.
 *
 * Patterns are compiled once (a grant list is checked once per stream open, never per event).
 */

const SEGMENT = /^[A-Za-z0-9_.:@-]+$/;
const MAX_PATTERN_LENGTH = 200;
const MAX_DEEP_WILDCARDS = 2;

type Segment = string | typeof ONE | typeof MANY;
const ONE = 1;
const MANY = 2;

export interface ChannelPattern {
  readonly source: string;
  matches(channel: string): boolean;
}

/** True for a pattern this gateway accepts (the same characters as channels, plus whole-segment `*` and `**`). */
export function isValidPattern(pattern: string): boolean {
  return compile(pattern) !== undefined;
}

/** The compiled pattern, or undefined when it is not a valid one (a token's bad grant grants nothing). */
export function compilePattern(pattern: string): ChannelPattern | undefined {
  const segments = compile(pattern);
  if (segments === undefined) return undefined;
  if (!segments.some((segment) => typeof segment !== 'string')) {
    return { source: pattern, matches: (channel) => channel === pattern };
  }
  return { source: pattern, matches: (channel) => matchSegments(segments, 0, channel.split('/'), 0) };
}

/** A set of grants: `allows(channel)` is true when any pattern matches. */
export class ChannelGrants {
  private readonly exact = new Set<string>();
  private readonly wild: ChannelPattern[] = [];

  constructor(patterns: Iterable<string>) {
    for (const pattern of patterns) {
      const compiled = compilePattern(pattern);
      if (compiled === undefined) continue;
      if (pattern.includes('*')) this.wild.push(compiled);
      else this.exact.add(pattern);
    }
  }

  get empty(): boolean {
    return this.exact.size === 0 && this.wild.length === 0;
  }

  allows(channel: string): boolean {
    if (this.exact.has(channel)) return true;
    for (const pattern of this.wild) if (pattern.matches(channel)) return true;
    return false;
  }
}

function compile(pattern: string): Segment[] | undefined {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) return undefined;
  const segments: Segment[] = [];
  for (const part of pattern.split('/')) {
    if (part === '*') segments.push(ONE);
    else if (part === '**') segments.push(MANY);
    // Empty segments are allowed in channel names (`a//b`), so they are matched literally too.
    else if (part === '' || SEGMENT.test(part)) segments.push(part);
    else return undefined;
  }
  // Each `**` multiplies the ways to split a channel; two keep matching quadratic at worst.
  if (segments.filter((segment) => segment === MANY).length > MAX_DEEP_WILDCARDS) return undefined;
  return segments;
}

function matchSegments(pattern: readonly Segment[], p: number, channel: readonly string[], c: number): boolean {
  while (p < pattern.length) {
    const segment = pattern[p];
    if (segment === MANY) {
      // One or more segments: try every split point. Patterns are short, so the recursion is shallow.
      for (let end = c + 1; end <= channel.length; end += 1) {
        if (matchSegments(pattern, p + 1, channel, end)) return true;
      }
      return false;
    }
    const part = channel[c];
    if (part === undefined) return false;
    if (segment !== ONE && segment !== part) return false;
    if (segment === ONE && part === '') return false;
    p += 1;
    c += 1;
  }
  return c === channel.length;
}
