import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

/** A config that cannot be used; `problems` lists every one, each naming its key. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface LoadOptions {
  /** YAML file; without one, the embedded default (every key at its default). */
  file?: string | undefined;
  /** Environment for `${VAR}` interpolation and `SSEG_SECTION__KEY` overrides. */
  env?: NodeJS.ProcessEnv;
  /** Last word, from the command line: `{ server: { port: 9000 } }`. */
  overrides?: Record<string, unknown>;
}

const ENV_PREFIX = 'SSEG_';

export async function loadConfig(options: LoadOptions = {}): Promise<Readonly<Config>> {
  const env = options.env ?? process.env;
  let raw: unknown = {};
  if (options.file !== undefined) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (error) {
      throw new ConfigError([`${options.file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`]);
    }
    raw = parseConfigText(text, options.file);
  }
  return resolveConfig(raw, env, options.overrides);
}

/** Parses YAML text into a plain value; syntax errors name the line. */
export function parseConfigText(text: string, source = 'config'): unknown {
  try {
    return parseYaml(text, { uniqueKeys: true }) ?? {};
  } catch (error) {
    if (error instanceof YAMLParseError) {
      const where = error.linePos?.[0] ? `:${error.linePos[0].line}:${error.linePos[0].col}` : '';
      throw new ConfigError([`${source}${where}: ${error.message.split('\n')[0] ?? 'invalid YAML'}`]);
    }
    throw error;
  }
}

/** Interpolates, applies overrides, validates once and freezes: the only way to get a Config. */
export function resolveConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, overrides: Record<string, unknown> = {}): Readonly<Config> {
  const problems: string[] = [];
  const interpolated = interpolate(raw, env, [], problems);
  if (problems.length > 0) throw new ConfigError(problems);
  if (!isPlainObject(interpolated)) throw new ConfigError([`config: expected a mapping of sections, got ${describeValue(interpolated)}`]);

  const merged = structuredClone(interpolated);
  applyEnvOverrides(merged, env, problems);
  deepMerge(merged, overrides);
  if (problems.length > 0) throw new ConfigError(problems);

  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => formatIssue(issue, merged)));
  return deepFreeze(result.data);
}

/** `${VAR}` and `${VAR:-fallback}` inside string values. Done after YAML parsing, so a value can never inject YAML. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string[], problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${path.join('.') || 'config'}: environment variable ${name} is not set`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, env, [...path, String(index)], problems));
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolate(item, env, [...path, key], problems)]));
  }
  return value;
}

/**
 * `SSEG_STREAMS__MAX_CONNECTIONS=500` sets `streams.maxConnections`. Segments match keys case- and
 * underscore-insensitively; values are read as YAML scalars (so `500` is a number, `[a, b]` a list),
 * and a plain value given for a list key becomes a one-item list.
 */
function applyEnvOverrides(target: Record<string, unknown>, env: NodeJS.ProcessEnv, problems: string[]): void {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || text === undefined || !name.includes('__')) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    const path: string[] = [];
    let shape: unknown = defaults;
    for (const segment of segments) {
      const wanted = segment.replaceAll('_', '').toLowerCase();
      const key = isPlainObject(shape) ? Object.keys(shape).find((candidate) => candidate.toLowerCase() === wanted) : undefined;
      if (key === undefined || !isPlainObject(shape)) {
        problems.push(`${name}: no config key matches (${[...path, segment].join('.')})`);
        shape = undefined;
        break;
      }
      path.push(key);
      shape = shape[key];
    }
    if (shape === undefined && path.length < segments.length) continue;
    let value: unknown;
    try {
      value = parseYaml(text);
    } catch {
      value = text;
    }
    if (Array.isArray(shape) && !Array.isArray(value)) value = String(text).split(',').map((item) => item.trim()).filter(Boolean);
    setPath(target, path, value);
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!isPlainObject(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const current = target[key];
    if (isPlainObject(value) && isPlainObject(current)) deepMerge(current, value);
    else target[key] = isPlainObject(value) ? structuredClone(value) : value;
  }
}

function formatIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const path = issue.path.map(String);
  const key = path.join('.') || 'config';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((unknownKey) => `${key === 'config' ? '' : `${key}.`}${unknownKey}: unknown key`).join('\n  ');
  }
  const got = describeValue(valueAt(input, path));
  const expected = issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.message;
  return `${key}: ${expected}, got ${got}`;
}

function valueAt(input: unknown, path: string[]): unknown {
  let node = input;
  for (const key of path) {
    if (!isPlainObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
