import { readFile } from 'node:fs/promises';
import { parse as parseYaml, parseDocument, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { allKeyPaths, isTextKey, keysAt, secretAt } from './describe.ts';
import { configSchema, type Config } from './schema.ts';
import { describeHidden, maskUrl, maskUserinfo, placeholderKind } from './secrets.ts';
import { closestName } from './suggestion.ts';

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

/**
 * Parses YAML text into a plain value; problems name the line. Only the first line of the YAML
 * library's message is kept: the rest quotes the source line, which may be a secret's. Warnings
 * (an unknown tag such as `!vault`, a directive) are problems too: the library would drop the tag
 * and print the line to stderr, and the gateway would run on a value the operator did not mean.
 */
export function parseConfigText(text: string, source = 'config'): unknown {
  const document = parseDocument(text, { uniqueKeys: true });
  const found = [...document.errors, ...document.warnings];
  if (found.length > 0) throw new ConfigError(found.map((error) => `${source}${where(error)}: ${firstLine(error.message)}`));
  try {
    return document.toJS() ?? {};
  } catch (error) {
    // An alias without its anchor; the message would quote the alias, which may be a value's text.
    throw new ConfigError([
      `${source}: ${error instanceof ReferenceError && /alias/i.test(error.message) ? 'an alias (*name) refers to no anchor set before it' : 'cannot be read as YAML'}`,
    ]);
  }
}

function where(error: YAMLError): string {
  const position = error.linePos?.[0];
  return position === undefined ? '' : `:${position.line}:${position.col}`;
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? 'invalid YAML').replace(/ at line \d+, column \d+:?$/, '');
}

/** Interpolates, applies overrides, validates once and freezes: the only way to get a Config. */
export function resolveConfig(raw: unknown, env: NodeJS.ProcessEnv = {}, overrides: Record<string, unknown> = {}): Readonly<Config> {
  const problems: string[] = [];
  const interpolated = interpolate(raw, env, [], problems);
  if (problems.length > 0) throw new ConfigError(problems);
  // Only the kind of value: a file given by mistake (a token file, a PEM) must not be echoed.
  if (!isPlainObject(interpolated)) throw new ConfigError([`config: expected a mapping of sections, got ${kindOf(interpolated)}`]);

  const merged = structuredClone(interpolated);
  applyEnvOverrides(merged, env, problems);
  deepMerge(merged, overrides);
  if (problems.length > 0) throw new ConfigError(problems);

  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(result.error.issues.flatMap((issue) => formatIssue(issue, merged)));
  return deepFreeze(result.data);
}

/** `${VAR}` and `${VAR:-fallback}` inside string values. Done after YAML parsing, so a value can never inject YAML. */
function interpolate(value: unknown, env: NodeJS.ProcessEnv, path: string[], problems: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      // `${PUBLISH_TOKEN:-change-me}`: the fix is the variable, so say so rather than "is a placeholder".
      if (fallback !== undefined && placeholderKind(fallback) !== undefined) {
        problems.push(
          `${path.join('.') || 'config'}: environment variable ${name} is not set, and the fallback written in the file is a placeholder: set ${name} (for a token, ${name}="$(openssl rand -hex 24)")`,
        );
        return '';
      }
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
 * and a plain value given for a list key becomes a comma-separated list. A text key takes the value
 * verbatim: a secret of digits must stay a string (and out of a "got 1.2e+31" message), and one
 * starting with `*`, `!` or `&` must not be read as YAML syntax.
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
        const suggestion = isPlainObject(shape) ? closestName(segment, Object.keys(shape)) : undefined;
        const hint = suggestion === undefined ? '' : ` (did you mean ${ENV_PREFIX}${[...path, suggestion].map(envName).join('__')}?)`;
        problems.push(`${name}: no config key matches (${[...path, segment].join('.')})${hint}`);
        shape = undefined;
        break;
      }
      path.push(key);
      shape = shape[key];
    }
    if (shape === undefined && path.length < segments.length) continue;
    let value: unknown = text;
    if (!isTextKey(path)) {
      try {
        value = parseYaml(text, { logLevel: 'silent' });
      } catch {
        value = text;
      }
    }
    if (Array.isArray(shape) && !Array.isArray(value))
      value = String(text)
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean);
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

/** `maxConnections` → `MAX_CONNECTIONS`, as the key is spelt in an SSEG_ variable. */
function envName(key: string): string {
  return key.replaceAll(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/**
 * One line per problem: the key, the rule, and what was given, masked. A secret key (and
 * everything under it) shows only the shape of its value; any URL shows no credentials.
 */
function formatIssue(issue: z.core.$ZodIssue, input: unknown): string[] {
  const path = issue.path.map(String);
  const key = path.join('.') || 'config';
  if (issue.code === 'unrecognized_keys') return issue.keys.map((unknownKey) => `${[...path, unknownKey].join('.')}: unknown key${suggest(path, unknownKey)}`);
  const value = valueAt(input, path);
  const expected = issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.message;
  // A rule across keys (`set only one of secret, publicKey, jwksUrl`) is not about a value: showing the mapping would show its secrets.
  if (isPlainObject(value) && issue.code === 'custom') return [`${key}: ${expected}`];
  return [`${key}: ${expected}, got ${describeValue(value, path)}`];
}

/** ` (did you mean streams.heartbeat?)`: a sibling first, else the same name (or close) in another section. */
function suggest(path: string[], unknownKey: string): string {
  const sibling = closestName(unknownKey, keysAt(path));
  if (sibling !== undefined) return ` (did you mean ${[...path, sibling].join('.')}?)`;
  const paths = allKeyPaths();
  const byName = new Map(paths.map((candidate) => [candidate.join('.'), candidate.at(-1) ?? '']));
  const elsewhere = closestName(unknownKey, new Set(byName.values()));
  const match = elsewhere === undefined ? undefined : [...byName].find(([, name]) => name === elsewhere)?.[0];
  return match === undefined ? '' : ` (did you mean ${match}?)`;
}

function valueAt(input: unknown, path: string[]): unknown {
  let node = input;
  for (const key of path) {
    if (!isPlainObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function describeValue(value: unknown, path: string[]): string {
  if (value === undefined) return 'nothing';
  if (secretAt(path) === true) return describeHidden(value);
  const text = JSON.stringify(masked(value, path));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** A copy of `value` fit to print: secrets under it hidden, URLs without credentials. */
function masked(value: unknown, path: string[]): unknown {
  const kind = secretAt(path);
  if (kind === true) return describeHidden(value);
  if (typeof value === 'string') return kind === 'url' ? (maskUrl(value) ?? describeHidden(value)) : maskUserinfo(value);
  if (Array.isArray(value)) return value.map((item, index) => masked(item, [...path, String(index)]));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, masked(item, [...path, name])]));
  return value;
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'string' ? 'a string' : `a ${typeof value}`;
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
