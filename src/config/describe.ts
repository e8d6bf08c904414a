import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

/** One documented config key, read off the schema (never written by hand). */
export interface KeyDoc {
  key: string;
  type: string;
  defaultValue: unknown;
  description: string;
  secret: boolean;
}

interface JsonSchemaNode {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  description?: string;
  secret?: boolean;
  unit?: string;
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
}

export function describeConfigKeys(): KeyDoc[] {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  const keys: KeyDoc[] = [];
  const walk = (node: JsonSchemaNode, path: string[]): void => {
    if (node.properties) {
      for (const [name, child] of Object.entries(node.properties)) walk(child, [...path, name]);
      return;
    }
    keys.push({
      key: path.join('.'),
      type: typeName(node),
      defaultValue: node.default,
      description: node.description ?? '',
      secret: node.secret === true,
    });
  };
  walk(root, []);
  return keys;
}

function typeName(node: JsonSchemaNode): string {
  if (node.unit) return node.unit;
  if (node.enum) return node.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  if (node.type === 'array') return `list of ${node.items ? typeName(node.items) : 'values'}`;
  return Array.isArray(node.type) ? node.type.join(' \\| ') : (node.type ?? 'value');
}

/** The effective config with every secret replaced, for `check-config` and start-up logs. */
export function maskSecrets(config: Readonly<Config>): unknown {
  const masked = structuredClone(config) as Record<string, Record<string, unknown>>;
  for (const { key, secret } of describeConfigKeys()) {
    if (!secret) continue;
    // Walks the whole dotted path: secrets sit at any depth (auth.jwt.secret), not only section.key.
    const path = key.split('.');
    const name = path.pop();
    let holder: Record<string, unknown> | undefined = masked;
    for (const segment of path) {
      const next: unknown = holder?.[segment];
      holder = typeof next === 'object' && next !== null ? (next as Record<string, unknown>) : undefined;
    }
    if (holder === undefined || name === undefined || holder[name] === undefined) continue;
    const value = holder[name];
    holder[name] = Array.isArray(value) ? value.map(() => '***') : '***';
  }
  return masked;
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
    '`SSEG_PUBLISH__TOKENS=token-one,token-two`). Durations take `ms`, `s`, `m`, `h`, `d`;',
    'sizes take `b`, `kb`, `mb`, `gb` (binary: 1kb = 1024 bytes). Unknown keys are errors.',
    '`sse-gateway check-config FILE` prints the effective configuration with secrets masked.',
    '',
    '| key | type | default | description |',
    '| --- | --- | --- | --- |',
  ];
  for (const doc of describeConfigKeys()) {
    const defaultText = doc.defaultValue === undefined ? '' : `\`${JSON.stringify(doc.defaultValue)}\``;
    lines.push(`| \`${doc.key}\` | ${doc.type} | ${defaultText} | ${doc.description.replaceAll('|', '\\|')}${doc.secret ? ' (secret: masked in output)' : ''} |`);
  }
  return `${lines.join('\n')}\n`;
}
