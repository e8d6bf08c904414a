import { describe, expect, it } from 'vitest';
import { formatCursor, parseCursor } from '../../../src/sse/cursor.ts';

describe('cursors', () => {
  it('round-trips', () => {
    expect(parseCursor(formatCursor('k3f9a', 1042))).toEqual({ epoch: 'k3f9a', seq: 1042 });
  });

  it.each(['', '42', 'abc', 'ABC-1', 'e-', '-1', 'e-1.5', 'e-1-2', 'e--1', `e-${'9'.repeat(16)}`, `${'a'.repeat(17)}-1`, 'e-1\n'])('refuses %j', (text) => {
    expect(parseCursor(text)).toBeUndefined();
  });
});
