import { describe, expect, it } from 'vitest';
import { ChannelGrants, compilePattern, isValidPattern } from '../../../src/auth/channels.ts';

const matches = (pattern: string, channel: string): boolean => compilePattern(pattern)?.matches(channel) ?? false;

describe('channel patterns', () => {
  it('matches exact names only exactly', () => {
    expect(matches('a/b', 'a/b')).toBe(true);
    expect(matches('a/b', 'a/bc')).toBe(false);
    expect(matches('a/b', 'a')).toBe(false);
  });

  it('lets * stand for exactly one non-empty segment', () => {
    expect(matches('a/*', 'a/b')).toBe(true);
    expect(matches('a/*', 'a/b/c')).toBe(false);
    expect(matches('a/*', 'a')).toBe(false);
    expect(matches('a/*', 'a/')).toBe(false);
    expect(matches('a/*', 'b/x')).toBe(false);
    expect(matches('*/x', 'q/x')).toBe(true);
  });

  it('lets ** stand for one or more segments', () => {
    expect(matches('a/**', 'a/b')).toBe(true);
    expect(matches('a/**', 'a/b/c/d')).toBe(true);
    expect(matches('a/**', 'a')).toBe(false);
    expect(matches('a/**/z', 'a/b/c/z')).toBe(true);
    expect(matches('a/**/z', 'a/z')).toBe(false);
    expect(matches('**', 'anything/at/all')).toBe(true);
  });

  it('refuses patterns that are not whole-segment wildcards or hold bad characters', () => {
    expect(isValidPattern('a*')).toBe(false);
    expect(isValidPattern('a/b*c')).toBe(false);
    expect(isValidPattern('a/***')).toBe(false);
    expect(isValidPattern('a b')).toBe(false);
    expect(isValidPattern('a\u0000b')).toBe(false);
    expect(isValidPattern('')).toBe(false);
    expect(isValidPattern('x'.repeat(201))).toBe(false);
    expect(isValidPattern('user:1/@room.x-y_z')).toBe(true);
  });

  it('refuses more than two ** in one pattern, so matching cannot blow up', () => {
    expect(isValidPattern('**/**')).toBe(true);
    expect(isValidPattern('**/**/**')).toBe(false);
  });

  it('matches a long channel against two ** without backtracking forever', () => {
    const channel = Array.from({ length: 99 }, () => 'x').join('/');
    expect(matches('**/y/**', channel)).toBe(false);
  });
});

describe('ChannelGrants', () => {
  it('allows a channel when any pattern matches, and skips invalid patterns', () => {
    const grants = new ChannelGrants(['user/1', 'room/*', 'bad*', '']);
    expect(grants.allows('user/1')).toBe(true);
    expect(grants.allows('room/9')).toBe(true);
    expect(grants.allows('bad*')).toBe(false);
    expect(grants.allows('badx')).toBe(false);
    expect(grants.allows('user/2')).toBe(false);
  });

  it('is empty when nothing valid was granted', () => {
    expect(new ChannelGrants(['a b']).empty).toBe(true);
    expect(new ChannelGrants([]).allows('a')).toBe(false);
  });
});
