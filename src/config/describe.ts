import { stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { maskUrl, maskUserinfo, MASK, type SecretKind } from './secrets.ts';
import { DURATION_UNITS_TEXT, formatDuration, formatSize } from './units.ts';

/** One documented config key, read off the schema (never written by hand). */
export interface KeyDoc {
  key: string;
  type: string;
  defaultValue: unknown;
  description: string;
  secret: boolean;
  /** How check-config shows it: whole value hidden, or a URL's credentials hidden. */
  secretKind: SecretKind | undefined;
}

interface JsonSchemaNode {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  secret?: SecretKind;
  unit?: string;
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  additionalProperties?: JsonSchemaNode | boolean;
}

let root: JsonSchemaNode | undefined;
/** The schema as JSON Schema (input side, so durations have their unit and text defaults), built once. */
function schemaRoot(): JsonSchemaNode {
  root ??= z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  return root;
}

/** The node one step below `node`: a key of a mapping, an item of a list (numeric segment), a value of a record. */
function child(node: JsonSchemaNode, segment: string): JsonSchemaNode | undefined {
  const named = node.properties?.[segment];
  if (named !== undefined) return named;
  if (node.items !== undefined && /^\d+$/.test(segment)) return node.items;
  return typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined;
}

/** How the value at `path` is secret, if it is: a secret key hides everything below it (list items, record values). */
export function secretAt(path: readonly string[]): SecretKind | undefined {
  let node: JsonSchemaNode | undefined = schemaRoot();
  let kind = node.secret;
  for (const segment of path) {
    node = child(node, segment);
    if (node === undefined) break;
    kind ??= node.secret;
  }
  return kind;
}

/** Whether the key at `path` takes text only (not a number, list, boolean or `true | 'auto'` union). */
export function isTextKey(path: readonly string[]): boolean {
  let node: JsonSchemaNode | undefined = schemaRoot();
  for (const segment of path) node = node === undefined ? undefined : child(node, segment);
  return node?.type === 'string';
}

/** The key names a mapping at `path` accepts (through list items), for "did you mean" suggestions. */
export function keysAt(path: readonly string[]): string[] {
  let node: JsonSchemaNode | undefined = schemaRoot();
  for (const segment of path) node = node === undefined ? undefined : child(node, segment);
  const mapping = node?.items?.properties ?? node?.properties;
  return mapping === undefined ? [] : Object.keys(mapping);
}

/** Every key path, list items included (`ingress.upstreamSse.idleTimeout`), for suggestions across sections. */
export function allKeyPaths(): string[][] {
  const paths: string[][] = [];
  const walk = (node: JsonSchemaNode, path: string[]): void => {
    const mapping = node.items?.properties ?? node.properties;
    if (path.length > 0) paths.push(path);
    for (const [name, item] of Object.entries(mapping ?? {})) walk(item, [...path, name]);
  };
  walk(schemaRoot(), []);
  return paths;
}

export function describeConfigKeys(): KeyDoc[] {
  const keys: KeyDoc[] = [];
  const walk = (node: JsonSchemaNode, path: string[]): void => {
    if (node.properties) {
      for (const [name, item] of Object.entries(node.properties)) walk(item, [...path, name]);
      return;
    }
    keys.push({
      key: path.join('.'),
      type: typeName(node),
      defaultValue: node.default,
      description: node.description ?? '',
      secret: node.secret !== undefined,
      secretKind: node.secret,
    });
  };
  walk(schemaRoot(), []);
  return keys;
}

function typeName(node: JsonSchemaNode): string {
  if (node.unit) return node.unit;
  if (node.enum) return node.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  if (node.type === 'array') return `list of ${node.items ? typeName(node.items) : 'values'}`;
  return Array.isArray(node.type) ? node.type.join(' \\| ') : (node.type ?? 'value');
}

/**
 * The effective config in its input form, for `check-config` and start-up logs: durations and
 * sizes with units (`15s`, `256kb`), so the output can be fed back as a config file, and every
 * secret masked. An empty secret stays empty: there is nothing to hide, and `***` would not load.
 */
export function effectiveConfig(config: Readonly<Config>): unknown {
  const present = (node: JsonSchemaNode | undefined, value: unknown, secret: SecretKind | undefined): unknown => {
    const kind = secret ?? node?.secret;
    if (typeof value === 'number' && node?.unit === 'duration') return formatDuration(value);
    if (typeof value === 'number' && node?.unit === 'size') return formatSize(value);
    if (typeof value === 'string') {
      if (value === '') return value;
      if (kind === true) return MASK;
      // A URL with credentials in a key nobody marked secret still loses them.
      return kind === 'url' ? (maskUrl(value) ?? MASK) : maskUserinfo(value);
    }
    if (Array.isArray(value)) return value.map((item, index) => present(node === undefined ? undefined : child(node, String(index)), item, kind));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, present(node === undefined ? undefined : child(node, key), item, kind)]));
    }
    return value;
  };
  return present(schemaRoot(), config, undefined);
}

/** `check-config`'s output: YAML that loads back to the same config (secrets aside). */
export function renderEffectiveConfig(config: Readonly<Config>): string {
  return toYaml(effectiveConfig(config));
}

/** docs/config.md, generated from the schema; a test fails when the committed file drifts. */
export function renderConfigDocs(): string {
  const lines = [
    '# Configuration',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`. Do not edit by hand. -->',
    '',
    'One YAML file (`sse-gateway serve --config FILE`); every key is optional. Values may use',
    '`${ENV_VAR}` or `${ENV_VAR:-fallback}`. Any key can be overridden from the environment as',
    '`SSEG_<SECTION>__<KEY>` (for example `SSEG_STREAMS__MAX_CONNECTIONS=500`,',
    '`SSEG_PUBLISH__TOKENS="$(openssl rand -hex 24)"`; a list takes commas). Unknown keys are',
    'errors, with the closest known key suggested. `sse-gateway check-config FILE` prints the',
    'effective configuration, with units and secrets masked, in a form it reads back.',
    '',
    `Durations need a unit (\`${DURATION_UNITS_TEXT.split(', ').join('`, `')}\`): \`500ms\`, \`15s\`, compounds largest unit`,
    'first (`2h30m`, `1m30s`, `1s500ms`) and decimals that come to whole milliseconds (`1.5s`).',
    'A bare number other than 0 is refused (`maxAge: 15` is not 15 ms). Sizes are bytes (`4096`) or',
    'take `b`, `kb`, `mb`, `gb` (binary: 1kb = 1024 bytes). Durations, sizes and counts may be 0',
    'only where the description says what 0 means; durations are at most `24d` (the longest a',
    'Node.js timer can wait), except `history.maxAge`.',
    '',
    'Secrets (publish tokens, HMAC secrets, the JWT secret, header values of `ingress.upstreamSse`,',
    'credentials and query strings in URLs) are never shown: not by `check-config`, not in an',
    'error. A placeholder (`change-me…`, the example tokens of this repository) or the `***` that',
    '`check-config` prints in place of a secret is refused at start.',
    '',
    '| key | type | default | description |',
    '| --- | --- | --- | --- |',
  ];
  for (const doc of describeConfigKeys()) {
    const defaultText = doc.defaultValue === undefined ? '' : `\`${JSON.stringify(doc.defaultValue)}\``;
    const secretText = doc.secretKind === 'url' ? ' (secret: credentials and query masked in output)' : doc.secret ? ' (secret: masked in output)' : '';
    lines.push(`| \`${doc.key}\` | ${doc.type} | ${defaultText} | ${doc.description.replaceAll('|', '\\|')}${secretText} |`);
  }
  return `${lines.join('\n')}\n`;
}
