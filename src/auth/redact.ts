/** Query parameters that may carry a credential (the ticket, an opt-in JWT parameter). */
const ALWAYS_SECRET = ['ticket', 'access_token', 'token'];

/**
 * A request target safe for a log line: the path as it is, and every credential-bearing query
 * parameter's value replaced. Built on URLSearchParams so encoded variants (`%74icket`) are
 * caught too, since they decode to the same name.
 */
export function redactTarget(url: URL, extra: readonly string[] = []): string {
  if (url.search === '') return url.pathname;
  const params = new URLSearchParams(url.search);
  const secret = new Set([...ALWAYS_SECRET, ...extra.filter(Boolean)]);
  for (const name of new Set(params.keys())) {
    if (secret.has(name)) params.set(name, '[redacted]');
  }
  return `${url.pathname}?${params.toString()}`;
}
