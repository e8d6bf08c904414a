import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { describeConfigKeys, renderConfigDocs } from '../../src/config/describe.ts';
import { parseConfigText, resolveConfig } from '../../src/config/load.ts';
import { errorStatus, renderErrorDocs } from '../../src/errors.ts';
import { renderMetricsDocs } from '../../src/metrics/describe.ts';

const read = (path: string): Promise<string> => readFile(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Dotted paths of every leaf (and every empty mapping or list) in a YAML document. */
function leafPaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([key, item]) => leafPaths(item, prefix ? `${prefix}.${key}` : key));
  }
  return [prefix];
}

describe('the docs agree with the code', () => {
  it('docs/config.md is what the schema renders (run `npm run docs:config` after changing the schema)', async () => {
    expect(await read('docs/config.md')).toBe(renderConfigDocs());
  });

  it('docs/metrics.md is what the registry renders (run `npm run docs:metrics` after changing metrics)', async () => {
    expect(await read('docs/metrics.md')).toBe(renderMetricsDocs());
  });

  it('the example config sets every key the schema knows, and is valid', async () => {
    const text = await read('config/gateway.example.yaml');
    const documented = new Set(leafPaths(parse(text)));
    const known = describeConfigKeys().map((doc) => doc.key);
    const missing = known.filter((key) => !documented.has(key) && ![...documented].some((path) => path.startsWith(`${key}.`)));
    expect(missing).toEqual([]);
    expect(() => resolveConfig(parseConfigText(text), {})).not.toThrow();
  });

  it('docs/errors.md is what the error registry renders (run `npm run docs:errors` after changing src/errors.ts)', async () => {
    expect(await read('docs/errors.md')).toBe(renderErrorDocs());
  });

  it('docs/errors.md lists every error code with its status, and nothing else', async () => {
    const rows = [...(await read('docs/errors.md')).matchAll(/^\| `(SSEG_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(Object.fromEntries(rows)).toEqual({ ...errorStatus });
    expect(rows).toHaveLength(Object.keys(errorStatus).length);
  });
});
