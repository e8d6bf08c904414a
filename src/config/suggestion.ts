/**
 * "Did you mean": the known name closest to a misspelt one. Case and underscores are ignored
 * first (`HeartBeat`, `max_connections`), then a few edits are allowed, more for longer names, so
 * `heartbeet` finds `heartbeat` but `typo` finds nothing rather than something unrelated.
 */
export function closestName(wanted: string, candidates: Iterable<string>): string | undefined {
  const folded = fold(wanted);
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (fold(candidate) === folded) return candidate;
    const distance = editDistance(folded, fold(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(wanted.length / 4)) ? best : undefined;
}

function fold(name: string): string {
  return name.replaceAll(/[-_]/g, '').toLowerCase();
}

/** Levenshtein distance, with a transposition counting as one edit (`hearbteat`). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, at(i - 2, j - 2) + 1);
      const row = rows[i];
      if (row !== undefined) row[j] = value;
    }
  }
  return at(a.length, b.length);
}
