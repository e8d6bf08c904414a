/**
 * What the config layer knows about secrets without reading the schema: how to hide one, how to
 * show a URL without its credentials, and which values only look like secrets (placeholders
 * copied from the example config or the docs, or the mask check-config prints). The schema says
 * which keys are secret (`secret: true` hides the value whole, `secret: 'url'` hides the
 * credentials and query of a URL); describe.ts walks it.
 */

export type SecretKind = true | 'url';

export const MASK = '***';

/**
 * Tokens written in this repository (config/gateway.example.yaml, docs/, docker-compose.yml):
 * public, so a gateway that accepts one accepts anybody. Any `change-me`/`replace-me` is refused
 * too, since that is how every example spells "not a real secret".
 */
const KNOWN_PLACEHOLDERS = new Set(['change-me-to-a-long-random-token', 'demo-publish-token-change-me']);
const placeholderWords = /change[-_. ]?me|replace[-_. ]?me/i;

/** `example`: a placeholder from an example; `mask`: what check-config printed instead of the secret. */
export function placeholderKind(value: string): 'example' | 'mask' | undefined {
  if (/^\*+$/.test(value)) return 'mask';
  if (KNOWN_PLACEHOLDERS.has(value) || placeholderWords.test(value)) return 'example';
  return undefined;
}

// scheme://userinfo@ — matched as text, so even a URL that does not parse loses its password.
const userinfo = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s]*)@/i;

/** `redis://:pw@host/0` → `redis://:***@host/0`; `https://tok@host` → `https://***@host`. Other text is returned as is. */
export function maskUserinfo(text: string): string {
  return text.replace(userinfo, (_match, scheme: string, info: string) => {
    const colon = info.indexOf(':');
    return `${scheme}${colon === -1 ? MASK : `${info.slice(0, colon + 1)}${MASK}`}@`;
  });
}

/**
 * Userinfo, and every query value (`?access_token=…`, `?password=…`), masked; scheme, host and
 * path kept. Undefined when an `@` is left over (`redis//:pw@host`, a typo'd scheme): then where
 * the credentials end cannot be told, and the caller hides the whole value.
 */
export function maskUrl(text: string): string | undefined {
  const masked = maskUserinfo(text);
  const query = masked.indexOf('?');
  const base = query === -1 ? masked : masked.slice(0, query);
  if (base.replace(userinfo, '').includes('@')) return undefined;
  if (query === -1) return masked;
  const names = [...new URLSearchParams(masked.slice(query + 1)).keys()];
  return `${base}?${names.map((name) => `${encodeURIComponent(name)}=${MASK}`).join('&')}`;
}

/** A secret value as an error message may mention it: its shape, never its content. */
export function describeHidden(value: unknown): string {
  if (typeof value === 'string') return `a secret of ${value.length} characters (not shown)`;
  if (Array.isArray(value)) return `a list of ${value.length} (not shown)`;
  if (value === null) return 'null';
  return `a ${typeof value === 'object' ? 'mapping' : typeof value} (not shown)`;
}
